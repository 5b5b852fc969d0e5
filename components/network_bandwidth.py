"""Each GPU instance type's published network bandwidth, which `trainstack netcheck` and a job's
`netcheck: true` hold the measured bus bandwidth against (trainer/netcheck.py).

The figures are DescribeInstanceTypes' NetworkInfo.NetworkPerformance ("100 Gigabit",
"4x 100 Gigabit", "3200 Gigabit"); for an "Up to N Gigabit" size, which only bursts to N, the
sustained NetworkCards[].BaselineBandwidthInGbps instead. tests/components/test_network_bandwidth.py
checks the table against a recorded DescribeInstanceTypes snapshot.
"""

from __future__ import annotations

from .config import PoolFacts

NETWORK_GBPS: dict[str, float] = {
    "g4dn.xlarge": 5,
    "g4dn.2xlarge": 10,
    "g4dn.4xlarge": 20,
    "g4dn.8xlarge": 50,
    "g4dn.12xlarge": 50,
    "g4dn.16xlarge": 50,
    "g4dn.metal": 100,
    "g5.xlarge": 2.5,
    "g5.2xlarge": 5,
    "g5.4xlarge": 10,
    "g5.8xlarge": 25,
    "g5.12xlarge": 40,
    "g5.16xlarge": 25,
    "g5.24xlarge": 50,
    "g5.48xlarge": 100,
    "g6.xlarge": 2.5,
    "g6.2xlarge": 5,
    "g6.4xlarge": 10,
    "g6.8xlarge": 25,
    "g6.12xlarge": 40,
    "g6.16xlarge": 25,
    "g6.24xlarge": 50,
    "g6.48xlarge": 100,
    "g6e.xlarge": 2.5,
    "g6e.2xlarge": 5,
    "g6e.4xlarge": 20,
    "g6e.8xlarge": 25,
    "g6e.12xlarge": 100,
    "g6e.16xlarge": 35,
    "g6e.24xlarge": 200,
    "g6e.48xlarge": 400,
    "p4d.24xlarge": 400,
    "p4de.24xlarge": 400,
    "p5.4xlarge": 100,
    "p5.48xlarge": 3200,
    "p5e.48xlarge": 3200,
    "p5en.48xlarge": 3200,
}


def pool_gbps(pool: PoolFacts, gpus_per_node: int) -> float | None:
    """What a job's nodes promise at least: the lowest figure among the pool's instance types
    its pods fit on (a NodePool may launch any of them). None: no known type fits."""
    figures = [
        NETWORK_GBPS[i.name]
        for i in pool.instances
        if i.gpus >= gpus_per_node and i.name in NETWORK_GBPS
    ]
    return min(figures, default=None)
