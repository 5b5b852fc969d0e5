"""The fleet's figures, which the job watcher publishes to CloudWatch for the stack's dashboard
(components/dashboard.py): how many nodes each pool runs and on which capacity type, how many of
them are GPU nodes, what they cost per hour, and how many GPU nodes the idle-GPU rule finds
idle (idle_gpu.py).

Namespace NAMESPACE, one datum per metric and dimension set every poll (FleetMonitor, below):
  Nodes           ClusterName, Pool, CapacityType   nodes now (0 for a known pool with none)
  GpuNodes        ClusterName                       nodes labelled trainstack.io/gpu
  DollarsPerHour  ClusterName | ClusterName, Pool   the nodes' on-demand list price per hour
  IdleGpuNodes    ClusterName                       GPU nodes idle per the idle-GPU rule

A node is read from its labels: the stack's pool label on every node it creates
(components/scheduling.py node_labels), the well-known instance type, and the capacity type as
Karpenter (`karpenter.sh/capacity-type`: on-demand, spot) or EKS managed node groups
(`eks.amazonaws.com/capacityType`: ON_DEMAND, SPOT; EKS user guide, managed-node-groups)
label it. Prices are the stack's price table's rows for its region (components/prices.yaml,
the table `trainstack cost` uses), handed over in the Deployment's environment: a spot node is
priced at the on-demand rate, so the figure is an upper bound, like `trainstack cost`'s.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

log = logging.getLogger("jobwatch.fleet")

NAMESPACE = "trainstack/Fleet"
NODES, GPU_NODES, DOLLARS_PER_HOUR, IDLE_GPU_NODES = (
    "Nodes",
    "GpuNodes",
    "DollarsPerHour",
    "IdleGpuNodes",
)
# Metric -> the dimension sets each datum is published with (the metric catalog's source).
DIMENSION_SETS: dict[str, tuple[tuple[str, ...], ...]] = {
    NODES: (("ClusterName", "Pool", "CapacityType"),),
    GPU_NODES: (("ClusterName",),),
    DOLLARS_PER_HOUR: (("ClusterName",), ("ClusterName", "Pool")),
    IDLE_GPU_NODES: (("ClusterName",),),
}
POLL_S = 300.0  # the dashboard's period; also how often the idle rule looks

# The stack's labels (components/config/base.py; tests/jobwatch compare them), Kubernetes'
# well-known instance-type label, and the capacity-type labels of Karpenter and EKS.
POOL_LABEL = "trainstack.io/pool"
GPU_LABEL = "trainstack.io/gpu"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
KARPENTER_CAPACITY_LABEL = "karpenter.sh/capacity-type"
KARPENTER_POOL_LABEL = "karpenter.sh/nodepool"
EKS_CAPACITY_LABEL = "eks.amazonaws.com/capacityType"
EKS_NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup"
NO_POOL = "none"  # a node the stack did not label (joined by hand)
UNKNOWN = "unknown"

ENV_CLUSTER = "JOBWATCH_CLUSTER"
ENV_REGION = "JOBWATCH_REGION"  # CloudWatch's region: the cluster's
ENV_PRICES = "JOBWATCH_PRICES"  # {"date": ..., "region": ..., "instances": {type: USD/h}}
ENV_POOLS = "JOBWATCH_POOLS"  # {pool: {"capacityTypes": [...], "karpenter": bool}}


@dataclass(frozen=True)
class Node:
    name: str
    uid: str
    pool: str
    capacity_type: str  # on-demand, spot (Karpenter's spelling), or UNKNOWN
    instance_type: str
    instance_id: str  # from spec.providerID; "" when it has none yet
    gpu: bool
    karpenter: bool  # launched by Karpenter (else a managed node group's, or neither)


def capacity_type(labels: Mapping[str, str]) -> str:
    """Karpenter's value as is; a managed node group's ON_DEMAND/SPOT in Karpenter's spelling."""
    if KARPENTER_CAPACITY_LABEL in labels:
        return labels[KARPENTER_CAPACITY_LABEL]
    eks = labels.get(EKS_CAPACITY_LABEL)
    return eks.lower().replace("_", "-") if eks else UNKNOWN


def read_node(obj: Mapping[str, Any]) -> Node:
    """A node from its API JSON (metadata.labels, spec.providerID `aws:///<zone>/<id>`)."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    provider = (obj.get("spec") or {}).get("providerID") or ""
    return Node(
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        pool=labels.get(POOL_LABEL, NO_POOL),
        capacity_type=capacity_type(labels),
        instance_type=labels.get(INSTANCE_TYPE_LABEL, UNKNOWN),
        instance_id=provider.rsplit("/", 1)[-1] if provider.startswith("aws://") else "",
        gpu=labels.get(GPU_LABEL) == "true",
        karpenter=KARPENTER_POOL_LABEL in labels,
    )


@dataclass(frozen=True)
class Prices:
    """On-demand USD per hour by instance type, from the stack's price table."""

    instances: Mapping[str, float] = field(default_factory=dict)
    date: str = ""
    region: str = ""

    def of(self, instance_type: str) -> float | None:
        return self.instances.get(instance_type)

    def describe(self, instance_type: str, spot: bool = False) -> str:
        price = self.of(instance_type)
        if price is None:
            return (
                f"no price for {instance_type} in the stack's price table"
                f"{f' ({self.region})' if self.region else ''}: add its row to "
                "components/prices.yaml"
            )
        upper = "; a spot node costs less" if spot else ""
        return f"${price:.2f}/h (on-demand list price of {self.date}{upper})"


@dataclass(frozen=True)
class Settings:
    cluster: str
    prices: Prices
    # Pool -> capacity types it may launch, so a pool with no node reads 0, not a gap.
    pools: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings | None:
        """None when the Deployment names no cluster (the fleet figures are off)."""
        cluster = env.get(ENV_CLUSTER)
        if not cluster:
            return None
        try:
            prices = json.loads(env.get(ENV_PRICES) or "{}")
            pools = json.loads(env.get(ENV_POOLS) or "{}")
        except ValueError as err:
            raise ValueError(f"{ENV_PRICES} or {ENV_POOLS} is not JSON: {err}") from None
        return cls(
            cluster,
            Prices(
                {k: float(v) for k, v in (prices.get("instances") or {}).items()},
                str(prices.get("date") or ""),
                str(prices.get("region") or ""),
            ),
            {p: tuple(v.get("capacityTypes") or ()) for p, v in pools.items()},
        )


@dataclass(frozen=True)
class Figures:
    nodes: Mapping[tuple[str, str], int]  # (pool, capacity type) -> nodes
    gpu_nodes: int
    dollars_per_hour: float
    dollars_by_pool: Mapping[str, float]
    unpriced: tuple[str, ...]  # instance types without a price (left out of the $/h)


def figures(nodes: Sequence[Node], settings: Settings) -> Figures:
    counts: Counter[tuple[str, str]] = Counter()
    for pool, types in settings.pools.items():
        for t in types:
            counts[(pool, t)] += 0
    by_pool: dict[str, float] = {pool: 0.0 for pool in settings.pools}
    unpriced = set()
    for n in nodes:
        counts[(n.pool, n.capacity_type)] += 1
        price = settings.prices.of(n.instance_type)
        if price is None:
            unpriced.add(n.instance_type)
            continue
        by_pool[n.pool] = by_pool.get(n.pool, 0.0) + price
    return Figures(
        dict(counts),
        sum(n.gpu for n in nodes),
        sum(by_pool.values()),
        by_pool,
        tuple(sorted(unpriced)),
    )


def _datum(name: str, value: float, dims: Mapping[str, str], unit: str, at: float) -> dict:
    return {
        "MetricName": name,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
        "Value": float(value),
        "Unit": unit,
        "Timestamp": datetime.fromtimestamp(at, timezone.utc),
    }


def datums(fig: Figures, idle_gpu_nodes: int | None, cluster: str, at: float) -> list[dict]:
    """PutMetricData's MetricData for one poll (at most a few dozen: one call carries 1000);
    no IdleGpuNodes when the idle rule could not run (`None`)."""
    c = {"ClusterName": cluster}
    out = [
        _datum(NODES, n, {**c, "Pool": pool, "CapacityType": cap}, "Count", at)
        for (pool, cap), n in sorted(fig.nodes.items())
    ]
    out.append(_datum(GPU_NODES, fig.gpu_nodes, c, "Count", at))
    out.append(_datum(DOLLARS_PER_HOUR, fig.dollars_per_hour, c, "None", at))
    out += [
        _datum(DOLLARS_PER_HOUR, usd, {**c, "Pool": pool}, "None", at)
        for pool, usd in sorted(fig.dollars_by_pool.items())
    ]
    if idle_gpu_nodes is not None:
        out.append(_datum(IDLE_GPU_NODES, idle_gpu_nodes, c, "Count", at))
    return out


class FleetMonitor:
    """One poll every POLL_S: the nodes listed, the idle-GPU rule run over the GPU nodes
    (`idle`, an idle_gpu.IdleAlarm), the figures published."""

    def __init__(
        self,
        settings: Settings,
        list_nodes: Callable[[], list[dict]],
        cloudwatch,
        idle=None,
        clock: Callable[[], float] = time.time,
    ):
        self.settings, self.list_nodes, self.cloudwatch = settings, list_nodes, cloudwatch
        self.idle, self.clock = idle, clock

    def poll(self) -> Figures:
        nodes = [read_node(n) for n in self.list_nodes()]
        now = self.clock()
        idle = None
        if self.idle is not None:
            try:
                idle = self.idle.poll(nodes, now)
            except Exception:  # CloudWatch or a publish failed: the figures still go out
                log.exception("fleet: the idle-GPU check failed")
        fig = figures(nodes, self.settings)
        if fig.unpriced:
            log.warning("no price for %s: left out of DollarsPerHour", ", ".join(fig.unpriced))
        self.cloudwatch.put_metric_data(
            Namespace=NAMESPACE, MetricData=datums(fig, idle, self.settings.cluster, now)
        )
        return fig

    def follow(self, stop: threading.Event) -> None:
        while True:
            try:
                self.poll()
            except Exception:  # an API or CloudWatch error: the next poll tries again
                log.exception("fleet: a poll failed")
            if stop.wait(POLL_S):
                return


def settings_from_os() -> Settings | None:
    return Settings.from_env(os.environ)
