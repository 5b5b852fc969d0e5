"""`trainstack cost`: what a stack costs per hour while idle and with every GPU pool at its ceiling.

The estimate prices the resources of the stack's offline plan (the program run under the mock
engine, as `trainstack plan` does, no cloud) and its node groups and pools from the validated
config, at the on-demand list prices in `components/prices.yaml`. It is an upper bound of the
hourly bill, not a forecast:

- idle: each plan resource that bills by the hour or by provisioned size (resources.py: the EKS
  control plane, NAT gateways and their public IPv4 addresses, interface endpoints, every KMS
  key, FSx for Lustre capacity at its throughput tier, EBS claims, load balancers), the system
  node group at its desired size and every GPU node group at its desired size (= minSize unless
  desiredSize is set), with their gp3 root disks. Karpenter pools idle at zero nodes.
- ceiling: every pool at the most it may spend: a node group at maxSize of its most expensive
  instance type; a Karpenter NodePool at the most expensive mix of its allowed instance types that
  fits under maxGpus and maxNodes (see `_worst_mix`).
- spot capacity is priced at the on-demand price: spot is cheaper but varies by the minute, and
  on-demand is what a spot price can never exceed.

What bills only by use (logs, bytes stored in S3, ECR and EFS, requests, data processed) is
listed with its reason, not priced (`CostReport.unpriced`). With `observability.enabled` each node
also carries its Container Insights observations, the cluster its controllers' and cluster-level
ones, and each pool's ceiling the trainer's custom metrics (observability.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from . import observability
from .dev_pod import DevPodCost, dev_pod_cost
from .items import Item
from .prices import PriceTable, Source, load_prices
from .resources import Resource, UnpricedLine, price_resources
from .serving import ServingCost, serving_costs

# components' config and catalog load botocore (~0.3 s); the CLI builds its parser on every
# command, so they load only when a stack is priced.
if TYPE_CHECKING:
    from components.catalog import GpuInstance
    from components.config import NodeGroupConfig, NodePoolConfig, PlatformConfig

# The exact worst-case search for a NodePool is O(nodes x GPUs x types); past this many steps the
# pool is priced by a simple bound instead, so a pool of thousands of GPUs stays instant.
MAX_SEARCH_STEPS = 3_000_000


@dataclass(frozen=True)
class PoolCost:
    """A node group or NodePool: what it costs idle and at its ceiling."""

    name: str
    kind: Literal["system node group", "node group", "NodePool"]
    spot: bool  # may run spot capacity: priced at on-demand, an upper bound
    idle: tuple[Item, ...]
    ceiling: tuple[Item, ...]
    ceiling_nodes: int
    ceiling_gpus: int
    ceiling_mix: str  # "16 x g5.24xlarge"
    note: str = ""

    @property
    def idle_hourly(self) -> float:
        return sum(i.hourly for i in self.idle)

    @property
    def ceiling_hourly(self) -> float:
        return sum(i.hourly for i in self.ceiling)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "spotPricedAsOnDemand": self.spot,
            "idleHourly": round(self.idle_hourly, 6),
            "ceilingHourly": round(self.ceiling_hourly, 6),
            "ceilingNodes": self.ceiling_nodes,
            "ceilingGpus": self.ceiling_gpus,
            "ceilingMix": self.ceiling_mix,
            "note": self.note,
            "idle": [i.to_dict() for i in self.idle],
            "ceiling": [i.to_dict() for i in self.ceiling],
        }


@dataclass(frozen=True)
class CostReport:
    region: str
    prices: PriceTable
    fixed: tuple[Item, ...]  # what runs whatever the pools do
    pools: tuple[PoolCost, ...]
    notes: tuple[str, ...] = ()
    stack: str | None = None
    cluster: str = ""
    gpu_ceiling: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    # While it runs; outside idle_hourly (its node exists only then), inside its pool's ceiling.
    dev_pod: DevPodCost | None = None
    # The plan's resources left out of the idle figure, and why (resources.py).
    unpriced: tuple[UnpricedLine, ...] = ()
    # Each served model; the running ones on Karpenter pools are in idle_hourly (serving.py).
    serving: tuple[ServingCost, ...] = ()

    def unpriced_of(self, *kinds: str) -> list[UnpricedLine]:
        return [u for u in self.unpriced if u.kind in kinds]

    def sources(self) -> dict[str, Source]:
        """The price table rows this report uses, with their dated sources."""
        used = {i.price for i in self.fixed} | {
            i.price for p in self.pools for i in (*p.idle, *p.ceiling)
        }
        if self.dev_pod is not None:
            used |= {i.price for i in self.dev_pod.items}
        used |= {i.price for s in self.serving for i in s.per_replica}
        return {k: s for k, s in self.prices.sources.items() if k in used}

    def unconfirmed(self) -> list[str]:
        """The rows this report uses whose rate AWS's own text has not been seen to state."""
        return [k for k, s in self.sources().items() if not s.confirmed]

    @property
    def fixed_hourly(self) -> float:
        return sum(i.hourly for i in self.fixed)

    @property
    def serving_hourly(self) -> float:
        """The running servers' own nodes: they run whether or not anything trains."""
        return sum(s.hourly for s in self.serving)

    @property
    def idle_hourly(self) -> float:
        return self.fixed_hourly + sum(p.idle_hourly for p in self.pools) + self.serving_hourly

    @property
    def ceiling_hourly(self) -> float:
        """Every pool at its ceiling at once (the idle nodes are part of each pool's ceiling)."""
        return self.fixed_hourly + sum(p.ceiling_hourly for p in self.pools)

    def monthly(self, hourly: float) -> float:
        return hourly * self.prices.hours_per_month

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "cluster": self.cluster,
            "region": self.region,
            "currency": "USD",
            "prices": {
                "date": self.prices.date,
                "source": self.prices.source,
                "file": str(self.prices.path),
                "hoursPerMonth": self.prices.hours_per_month,
            },
            "idleHourly": round(self.idle_hourly, 6),
            "idleMonthly": round(self.monthly(self.idle_hourly), 2),
            "ceilingHourly": round(self.ceiling_hourly, 6),
            "ceilingMonthly": round(self.monthly(self.ceiling_hourly), 2),
            "gpuCeiling": self.gpu_ceiling,
            "fixed": [i.to_dict() for i in self.fixed],
            "pools": [p.to_dict() for p in self.pools],
            "devPod": self.dev_pod.to_dict() if self.dev_pod else None,
            "serving": [s.to_dict() for s in self.serving],
            "unpriced": [u.to_dict() for u in self.unpriced],
            "sources": {k: s.model_dump() for k, s in self.sources().items()},
            "notes": list(self.notes),
        }


# ------------------------------------------------------------------------------------- estimate


def _mix_text(counts: Counter[str]) -> str:
    return (
        " + ".join(f"{n} x {t}" for t, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        or "0 nodes"
    )


@dataclass(frozen=True)
class _Collector:
    """The CloudWatch agent's observations on a pool's nodes (None where it is off)."""

    prices: PriceTable
    efa: bool = False  # the pool's pods use EFA: its devices report

    def millions(self, instance_type: str, busy: bool) -> float:
        """Million observations per hour of one node of `instance_type`."""
        from components.catalog import gpu_instance

        found = gpu_instance(instance_type)
        gpus = found.gpus if found else 0
        efa = found.efa_interfaces if found and self.efa else 0
        return observability.millions_per_hour(observability.node_per_minute(gpus, efa, busy=busy))

    def hourly(self, instance_type: str, busy: bool) -> float:
        return self.millions(instance_type, busy) * self.prices.container_insights_per_million

    def item(self, pool: str, counts: Counter[str], busy: bool) -> Item:
        return Item(
            f"{pool}: Container Insights",
            sum(n * self.millions(t, busy) for t, n in counts.items()),
            "M observations",
            self.prices.container_insights_per_million,
            "containerInsightsObservations",
        )


def _node_items(
    pool: str,
    counts: Counter[str],
    disk_gib: int,
    prices: PriceTable,
    collector: _Collector | None = None,
    busy: bool = False,
) -> tuple[Item, ...]:
    items = [
        Item(f"{pool}: {t}", n, t, prices.instance(t, pool), "instances")
        for t, n in counts.items()
        if n
    ]
    nodes = sum(counts.values())
    if nodes:
        items.append(
            Item(f"{pool}: root disks", nodes * disk_gib, "GiB gp3", prices.gp3_gib, "gp3GbMonth")
        )
        if collector is not None:
            items.append(collector.item(pool, counts, busy))
    return tuple(items)


def _trainer_metrics(pool: str, jobs: int, gpus: int, prices: PriceTable) -> tuple[Item, ...]:
    """The trainer's custom metrics with every GPU of the pool running a rank of its jobs."""
    series = observability.trainer_series().count(jobs, gpus)
    if not series:
        return ()
    return (
        Item(
            f"{pool}: trainer figures",
            series,
            "custom metric",
            prices.custom_metric,
            "customMetricMonth",
        ),
    )


def _group_cost(
    name: str, g: NodeGroupConfig, prices: PriceTable, collector: _Collector | None, jobs: int
) -> PoolCost:
    facts = g.facts(name)
    collector = collector and _Collector(prices, efa=facts.efa)
    used_by = f"trainstack:nodeGroups.{name}"
    by_price = {t: prices.instance(t, used_by) for t in g.instance_types}
    dearest = max(g.instance_types, key=by_price.__getitem__)
    spot = facts.spot
    # An ON_DEMAND managed node group launches its instance types in the listed order (the
    # "prioritized" allocation strategy), so idle nodes are the first type. Spot picks by
    # capacity and price, unknowable here: assume the dearest.
    idle_type = dearest if spot else g.instance_types[0]
    gpus = facts.gpus_of(dearest)
    # Desired, not min: a desiredSize above minSize starts that many nodes, and nothing in the
    # stack scales a managed group down on its own.
    idle = _node_items(name, Counter({idle_type: g.desired}), g.disk_size_gib, prices, collector)
    # At its ceiling every GPU node runs a job (the system group idles as it is).
    ceiling = _node_items(
        name,
        Counter({dearest: g.max_size}),
        g.disk_size_gib,
        prices,
        collector,
        busy=g.role != "system",
    )
    if collector is not None and g.role != "system":
        ceiling += _trainer_metrics(name, jobs, g.max_size * gpus, prices)
    return PoolCost(
        name=name,
        kind="system node group" if g.role == "system" else "node group",
        spot=spot,
        idle=idle,
        ceiling=ceiling,
        ceiling_nodes=g.max_size,
        ceiling_gpus=g.max_size * gpus,
        ceiling_mix=_mix_text(Counter({dearest: g.max_size})),
        note="maxSize x dearest type",
    )


def _node_cap(
    options: list[tuple[GpuInstance, float]], max_gpus: int, max_nodes: int | None
) -> int:
    """The most nodes the pool's limits allow: maxGpus filled with its smallest-GPU instance,
    and no more than maxNodes."""
    by_gpus = max_gpus // min(i.gpus for i, _ in options)
    return by_gpus if max_nodes is None else min(max_nodes, by_gpus)


def _worst_mix(
    options: list[tuple[GpuInstance, float]], max_gpus: int, max_nodes: int | None
) -> Counter[str] | None:
    """The dearest multiset of instances whose GPUs sum to <= max_gpus and count <= max_nodes.

    Karpenter launches a node only if the pool's usage plus that node's capacity stays within the
    NodePool `limits` (GPUs, and node count when maxNodes is set); so the most a pool can spend is
    the dearest combination under both limits (launches decided in one batch can overshoot a
    limit slightly; not modeled). That is not always the biggest instance: a
    g4dn.16xlarge has 1 GPU and costs more than half a 4-GPU g5.24xlarge, so with maxNodes to spare
    four of them cost more than one g5.24xlarge. Exact bounded knapsack over (nodes, GPUs): for k
    nodes, best[g] is the dearest mix of at most k nodes and at most g GPUs.

    Returns None when the search would be too large; the caller then uses a bound.
    """
    nodes = _node_cap(options, max_gpus, max_nodes)
    if nodes * (max_gpus + 1) * len(options) > MAX_SEARCH_STEPS:
        return None
    best: list[tuple[float, tuple[int, ...]]] = [(0.0, (0,) * len(options))] * (max_gpus + 1)
    for _ in range(nodes):
        new = list(best)
        for g in range(max_gpus + 1):
            for k, (inst, price) in enumerate(options):
                if inst.gpus <= g:
                    value, mix = best[g - inst.gpus]
                    if value + price > new[g][0] + 1e-9:
                        new[g] = (value + price, mix[:k] + (mix[k] + 1,) + mix[k + 1 :])
        if new == best:  # no further node adds cost: the remaining limits are not binding
            break
        best = new
    _, mix = best[max_gpus]
    return Counter({inst.name: n for (inst, _), n in zip(options, mix) if n})


def _pool_cost(
    name: str, p: NodePoolConfig, prices: PriceTable, collector: _Collector | None, jobs: int
) -> PoolCost:
    facts = p.facts(name)
    collector = collector and _Collector(prices, efa=facts.efa)
    used_by = f"trainstack:karpenter.nodePools.{name}"
    disk = p.disk_size_gib
    # Each node also brings its root disk (and its observations): with it in the node's price,
    # 16 x 4-GPU nodes rank above 8 x 8-GPU nodes of the same instance price, as they should.
    options = [
        (
            i,
            prices.instance(i.name, used_by)
            + disk * prices.gp3_gib
            + (collector.hourly(i.name, busy=True) if collector else 0.0),
        )
        for i in facts.instances
    ]
    spot = facts.spot
    if not options or not facts.max_gpus:
        return PoolCost(
            name, "NodePool", spot, (), (), 0, 0, "0 nodes", note="no instance type it may launch"
        )
    mix = _worst_mix(options, facts.max_gpus, facts.max_nodes)
    if mix is not None:
        nodes = sum(mix.values())
        gpus = sum(i.gpus * mix[i.name] for i, _ in options)
        ceiling = _node_items(name, mix, disk, prices, collector, busy=True)
        if collector is not None:
            ceiling += _trainer_metrics(name, jobs, gpus, prices)
        return PoolCost(
            name,
            "NodePool",
            spot,
            (),
            ceiling,
            nodes,
            gpus,
            _mix_text(mix),
            note="dearest mix within maxGpus/maxNodes",
        )
    # Too big to search: a bound no mix can exceed, the lesser of "every GPU at the dearest price
    # per GPU" and "every node at the dearest instance price".
    per_gpu = max(price / i.gpus for i, price in options)
    per_node = max(price for _, price in options)
    nodes = _node_cap(options, facts.max_gpus, facts.max_nodes)
    # (Per node and per GPU prices here include the root disk and the observations.)
    by_gpu, by_node = facts.max_gpus * per_gpu, nodes * per_node
    item = (
        Item(f"{name}: {facts.max_gpus} GPUs with disks (bound)", facts.max_gpus, "GPU", per_gpu)
        if by_gpu <= by_node
        else Item(f"{name}: {nodes} nodes with disks (bound)", nodes, "node", per_node)
    )
    return PoolCost(
        name,
        "NodePool",
        spot,
        (),
        (item,),
        nodes,
        facts.max_gpus,
        f"<= {nodes} nodes",
        note="upper bound: the pool is too large to search every mix",
    )


def estimate(
    cfg: PlatformConfig,
    prices: PriceTable | None = None,
    stack: str | None = None,
    resources: Sequence[Resource] | None = None,
) -> CostReport:
    """Price `cfg` with `prices` (default: components/prices.yaml for the stack's region).

    `resources` are the plan's (trainstack/offline): what they cost at idle comes from them
    (resources.py), the pools from `cfg`. Without them only the pools are priced, and a note
    says so: the config alone does not say what the program creates.

    Raises PriceError when an instance type the stack may launch, or a rate a resource needs,
    has no price.
    """
    prices = prices or load_prices(cfg.region)
    by_resource = price_resources(resources or (), prices)

    system_name, _ = cfg.system_group
    collector = _Collector(prices) if cfg.observability.enabled else None
    jobs = Counter(j.node_pool for j in cfg.training_jobs.values())
    # The system group first: it is the part of the idle cost that is not a GPU pool.
    pools = [
        _group_cost(n, g, prices, collector, jobs[n])
        for n, g in sorted(cfg.node_groups.items(), key=lambda kv: kv[0] != system_name)
    ]
    pools += [_pool_cost(n, p, prices, collector, jobs[n]) for n, p in cfg.node_pools.items()]
    fixed = by_resource.items
    if collector is not None:
        fixed += (
            Item(
                "Container Insights: controllers, cluster",
                observability.millions_per_hour(observability.cluster_per_minute()),
                "M observations",
                prices.container_insights_per_million,
                "containerInsightsObservations",
            ),
        )

    if collector is not None and cfg.notifications.enabled and cfg.notifications.training_jobs:
        # With the collector, the watcher publishes its fleet figures every 5 minutes, jobs or
        # not: billed as custom metrics for as long as it runs.
        fixed += (
            Item(
                "job watcher's fleet figures",
                observability.fleet_series(cfg.capacity_types_by_pool()),
                "custom metrics",
                prices.custom_metric,
                "customMetricMonth",
            ),
        )

    notes = []
    if resources is None:
        notes.append(
            "the plan's resources were not given: only the node groups and pools are priced"
        )
    if any(p.spot for p in pools):
        notes.append(
            "spot capacity (marked *) is priced at the on-demand price: an upper bound; "
            "the spot price is usually 60-70% lower but varies"
        )
    notes.append("data transfer between zones and to the internet is billed by use, not priced")
    if collector is not None:
        notes.append(
            "Container Insights observations are an estimate per node (one per metric, resource "
            "and minute: trainstack/cost/observability.py); the dev pod's and model servers' "
            "nodes are priced without theirs"
        )
    return CostReport(
        region=cfg.region,
        prices=prices,
        fixed=fixed,
        pools=tuple(pools),
        notes=tuple(notes),
        stack=stack,
        cluster=cfg.cluster.name,
        gpu_ceiling=cfg.gpu_ceiling(),
        dev_pod=dev_pod_cost(cfg, prices),
        serving=serving_costs(cfg, prices),
        unpriced=by_resource.unpriced,
    )
