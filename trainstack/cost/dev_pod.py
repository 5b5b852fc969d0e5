"""What the dev pod costs per hour while it runs: the node it brings up, priced apart from the idle
figure because that node exists only while the pod does.

On a Karpenter NodePool the pod's GPUs start a node of its own: the cheapest instance type the
pool allows that holds the pod (the pod is sized for the pool's smallest fitting instance,
components/config/sizing.py, and Karpenter launches the cheapest type that fits), plus its root
disk. The idle stop (trainer/idle_stop.py) ends the pod after `devPod.idleStopAfter` and
Karpenter removes the node, so a forgotten pod costs at most that long. Either way the node counts
against the pool's maxGpus/maxNodes: it is inside the pool's ceiling, not on top of it.

On a managed node group the pod takes GPUs of a node the group runs anyway (priced with the group
at its desired size); stopping it frees the GPUs, not the node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .items import Item
from .prices import PriceTable

if TYPE_CHECKING:
    from components.config import PlatformConfig


@dataclass(frozen=True)
class DevPodCost:
    pool: str
    karpenter: bool  # False: a node group's node, already in the idle figure
    instance: str
    items: tuple[Item, ...]  # the node and its root disk (Karpenter pools only)
    idle_stop_after: str | None  # "2h"; None: never stops

    @property
    def hourly(self) -> float:
        return sum(i.hourly for i in self.items)

    @property
    def stops(self) -> str:
        return (
            f"stops after {self.idle_stop_after} idle"
            if self.idle_stop_after
            else "never stops: idle stop off"
        )

    def summary(self) -> str:
        """One line for the plan and the text report."""
        if not self.karpenter:
            return (
                f"dev pod on node group {self.pool} ({self.instance}): on a node the group "
                f"runs anyway, priced with it; {self.stops} (frees its GPUs, not the node)"
            )
        return (
            f"dev pod on {self.pool}: {self.instance} + root disk ${self.hourly:.3f}/h while it "
            f"runs, {self.stops}; not in the idle figure, inside {self.pool}'s ceiling"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "karpenter": self.karpenter,
            "instance": self.instance,
            "hourlyWhileRunning": round(self.hourly, 6),
            "idleStopAfter": self.idle_stop_after,
            "inIdleTotal": not self.karpenter,
            "note": self.summary(),
            "items": [i.to_dict() for i in self.items],
        }


def dev_pod_cost(cfg: PlatformConfig, prices: PriceTable) -> DevPodCost | None:
    """None without a dev pod, or when its pool has no instance that fits (config refuses it)."""
    d = cfg.dev_pod
    if not d.enabled or d.node_pool is None:
        return None
    facts = cfg.pools()[d.node_pool]
    smallest = facts.smallest_fitting(d.gpus)
    if smallest is None:
        return None
    stop = d.idle_stop_after if d.idle_stop_seconds is not None else None
    if not facts.karpenter:
        return DevPodCost(d.node_pool, False, smallest.name, (), stop)
    name, items = node_items(cfg, d.node_pool, d.gpus, prices, "dev pod")
    return DevPodCost(d.node_pool, True, name, items, stop)


def node_items(
    cfg: PlatformConfig, pool: str, gpus: int, prices: PriceTable, what: str
) -> tuple[str, tuple[Item, ...]]:
    """The node a pod of `gpus` GPUs brings up on Karpenter pool `pool`: the cheapest allowed
    instance type at least as big as the smallest that holds it (the pod is sized for that
    one), with its root disk; (its type, its items). The pool has an instance that fits."""
    facts = cfg.pools()[pool]
    smallest = facts.smallest_fitting(gpus)
    assert smallest is not None
    used_by = f"trainstack:karpenter.nodePools.{pool}"
    fits = [
        i
        for i in facts.instances
        if i.gpus >= gpus and i.vcpus >= smallest.vcpus and i.memory_gib >= smallest.memory_gib
    ]
    cheapest = min(fits, key=lambda i: prices.instance(i.name, used_by))
    disk = cfg.node_pools[pool].disk_size_gib
    price = prices.instance(cheapest.name, used_by)
    return cheapest.name, (
        Item(f"{what}: {cheapest.name}", 1, cheapest.name, price, "instances"),
        Item(f"{what}: root disk", disk, "GiB gp3", prices.gp3_gib, "gp3GbMonth"),
    )
