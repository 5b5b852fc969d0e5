"""What each served model (`servingJobs`, components/serving.py) costs per hour.

A server with replicas runs around the clock, so unlike the dev pod its nodes are part of the idle
figure. On a Karpenter NodePool each replica brings up a node of its own: the cheapest instance
type the pool allows that holds the pod (as the dev pod's, dev_pod.node_items), with its root
disk; those nodes count against the pool's maxGpus/maxNodes, inside its ceiling. On a managed node
group a replica takes GPUs of nodes the group runs anyway (priced with the group at its desired
size). A stopped server (replicas 0) costs nothing; its line says what one replica would.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .dev_pod import node_items
from .items import Item
from .prices import PriceTable

if TYPE_CHECKING:
    from components.config import PlatformConfig


@dataclass(frozen=True)
class ServingCost:
    name: str
    pool: str
    karpenter: bool  # False: on a node group's nodes, already in the idle figure
    instance: str
    replicas: int
    gpus: int  # per replica
    per_replica: tuple[Item, ...]  # one replica's node and root disk (Karpenter pools only)

    @property
    def items(self) -> tuple[Item, ...]:
        """What the running replicas add to the idle figure (none while stopped)."""
        if not self.replicas:
            return ()
        return tuple(replace(i, quantity=i.quantity * self.replicas) for i in self.per_replica)

    @property
    def replica_hourly(self) -> float:
        return sum(i.hourly for i in self.per_replica)

    @property
    def hourly(self) -> float:
        return sum(i.hourly for i in self.items)

    @property
    def total_gpus(self) -> int:
        return self.replicas * self.gpus

    def summary(self) -> str:
        """One line for the plan and the text report."""
        what = f"server {self.name} on {self.pool}"
        if not self.karpenter:
            state = "stopped (replicas 0)" if not self.replicas else f"{self.total_gpus} GPUs"
            return (
                f"{what} ({self.instance}): {state}, on nodes the node group runs anyway, "
                "priced with it"
            )
        if not self.replicas:
            return (
                f"{what}: stopped (replicas 0), $0/h; each replica would run a {self.instance} "
                f"at ${self.replica_hourly:.3f}/h"
            )
        return (
            f"{what}: {self.replicas} x {self.instance} ({self.total_gpus} GPUs) "
            f"${self.hourly:.3f}/h around the clock, in the idle figure and inside "
            f"{self.pool}'s ceiling"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pool": self.pool,
            "karpenter": self.karpenter,
            "instance": self.instance,
            "replicas": self.replicas,
            "gpusPerReplica": self.gpus,
            "gpus": self.total_gpus,
            "hourly": round(self.hourly, 6),
            "replicaHourly": round(self.replica_hourly, 6),
            "inIdleTotal": self.karpenter and self.replicas > 0,
            "note": self.summary(),
            "items": [i.to_dict() for i in self.items],
        }


def serving_costs(cfg: PlatformConfig, prices: PriceTable) -> tuple[ServingCost, ...]:
    out = []
    pools = cfg.pools()
    for name, s in cfg.serving_jobs.items():
        facts = pools[s.node_pool]
        smallest = facts.smallest_fitting(s.gpus)
        if smallest is None:  # config refuses it
            continue
        if not facts.karpenter:
            out.append(ServingCost(name, s.node_pool, False, smallest.name, s.replicas, s.gpus, ()))
            continue
        instance, items = node_items(cfg, s.node_pool, s.gpus, prices, f"server {name}")
        out.append(ServingCost(name, s.node_pool, True, instance, s.replicas, s.gpus, items))
    return tuple(out)
