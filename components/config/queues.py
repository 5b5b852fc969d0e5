"""`trainstack:queues`: how teams share the GPU pools through Kueue, and the quotas that follows.

The model (components/kueue_objects.py renders it, docs/training-jobs.md explains it):

- every GPU pool is a ResourceFlavor and has a *default queue* named after the pool: a
  ClusterQueue and a LocalQueue in the jobs namespace. A job without `queue` goes there, so a
  stack with no `queues` section still queues every job;
- `teams.<name>.pools` gives a team a share (GPUs) of one or more pools: its own ClusterQueue and
  LocalQueue, whose nominal quota in each pool is that share. The pool's default queue keeps what
  the teams leave;
- every ClusterQueue of the stack is in one cohort, so a queue may borrow what the others leave
  idle, pool by pool (`borrow: false` keeps a team within its share). One cohort and not one per
  pool: a ClusterQueue belongs to one cohort, and a team's queue may span pools;
- what Kueue may hand out in a pool is the pool's ceiling (`maxGpus`, or `maxSize` x GPUs per
  node) less the GPUs the running servers hold there around the clock (Kueue does not admit
  them), with the pool's CPU and memory in proportion. The dev pod is not counted: it stops when
  idle, and a job on its pool that needs its GPU waits until it has stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from .. import k8s_names
from .base import _Model, key
from .checks import dns_name, not_in, unknown_pool
from .pools import PoolFacts

# ClusterQueue spec.preemption (kueue v0.19.2 apis/kueue/v1beta2/clusterqueue_types.go).
WithinQueue = Literal["Never", "LowerPriority", "LowerOrNewerEqualPriority"]
Reclaim = Literal["Never", "LowerPriority", "Any"]
BorrowWithinCohort = Literal["Never", "LowerPriority"]
INT32 = 2**31 - 1  # WorkloadPriorityClass.value is an int32


class TeamConfig(_Model):
    # pool -> the team's nominal GPUs there.
    pools: dict[str, int] = {}
    # May use GPUs the other queues of the pool leave idle (Kueue borrowing in the cohort).
    borrow: bool = True


class PriorityConfig(_Model):
    """A WorkloadPriorityClass: it orders a queue and decides who preempts whom."""

    value: int = Field(ge=-INT32 - 1, le=INT32)
    description: str | None = None


class PreemptionConfig(_Model):
    """Every ClusterQueue's preemption rules. The defaults: a higher priority job preempts a
    lower one in its own queue, and a queue takes back what it lent at once; a borrowing job
    preempts nobody in other queues."""

    within_queue: WithinQueue = "LowerPriority"
    reclaim: Reclaim = "Any"
    borrow_within_cohort: BorrowWithinCohort = "Never"


class QueuesConfig(_Model):
    teams: dict[str, TeamConfig] = {}
    priorities: dict[str, PriorityConfig] = {}
    # The priority of a job without `priority` (none: Kueue's 0).
    default_priority: str | None = None
    preemption: PreemptionConfig = PreemptionConfig()


# ----------------------------------------------------------------------------------- quotas


@dataclass(frozen=True)
class Quota:
    """GPUs, vCPUs and GiB of memory: one ClusterQueue's nominal quota in one pool."""

    gpus: int
    cpu: int
    memory_gib: int

    def share(self, gpus: int) -> Quota:
        """`gpus` of this quota, with CPU and memory in the same proportion (rounded down)."""
        if self.gpus == 0:
            return Quota(0, 0, 0)
        return Quota(gpus, self.cpu * gpus // self.gpus, self.memory_gib * gpus // self.gpus)

    def __add__(self, other: Quota) -> Quota:
        return Quota(
            self.gpus + other.gpus, self.cpu + other.cpu, self.memory_gib + other.memory_gib
        )

    def __sub__(self, other: Quota) -> Quota:
        return Quota(
            self.gpus - other.gpus, self.cpu - other.cpu, self.memory_gib - other.memory_gib
        )


def pool_ceiling(pool: PoolFacts) -> Quota:
    """The most a pool can ever hold: its GPU ceiling, and the CPU and memory of the instance
    type that brings the most of each within that ceiling (its `maxNodes`, and as many nodes as
    `maxGpus` allows)."""
    gpus = pool.max_gpus or 0
    cpu = memory = 0
    for i in pool.instances:
        nodes = gpus // i.gpus
        if pool.max_nodes is not None:
            nodes = min(nodes, pool.max_nodes)
        cpu, memory = max(cpu, nodes * i.vcpus), max(memory, nodes * i.memory_gib)
    return Quota(gpus, cpu, memory)


@dataclass(frozen=True)
class QueueQuota:
    """One ClusterQueue (and the LocalQueue of the same name): a pool's default queue or a
    team's, its nominal quota in each pool it may use."""

    name: str
    team: bool
    quotas: dict[str, Quota]
    borrow: bool = True


@dataclass(frozen=True)
class QueuePlan:
    """What Kueue may hand out per pool, what the workloads outside the queues hold, and every
    queue with its quotas."""

    pools: dict[str, Quota]
    held: dict[str, int]
    queues: dict[str, QueueQuota] = field(default_factory=dict)
    # Each pool's GPU ceiling, before what is held.
    ceilings: dict[str, int] = field(default_factory=dict)

    def most_gpus(self, queue: str, pool: str) -> int | None:
        """The most GPUs a job of `queue` can get in `pool`: its nominal quota, or the pool's
        whole quota when it may borrow; None when the queue has no quota in that pool."""
        q = self.queues[queue].quotas.get(pool)
        if q is None:
            return None
        return self.pools[pool].gpus if self.queues[queue].borrow else q.gpus


def plan_queues(
    queues: QueuesConfig, pools: Mapping[str, PoolFacts], held: Mapping[str, int]
) -> QueuePlan:
    """The default queue of each pool and each team's queue, with their nominal quotas (valid
    config assumed: check_queues reports what would not add up)."""
    available, ceilings = {}, {}
    for name, pool in pools.items():
        ceiling = pool_ceiling(pool)
        ceilings[name] = ceiling.gpus
        available[name] = ceiling.share(max(0, ceiling.gpus - held.get(name, 0)))
    teams = {
        team: QueueQuota(
            team,
            True,
            {p: available[p].share(g) for p, g in t.pools.items() if p in available},
            t.borrow,
        )
        for team, t in queues.teams.items()
    }
    defaults = {}
    for name, quota in available.items():
        left = quota
        for t in teams.values():
            if name in t.quotas:
                left = left - t.quotas[name]
        defaults[name] = QueueQuota(name, False, {name: left})
    # A team named like a pool is refused (check_queues); the pool keeps its queue meanwhile.
    return QueuePlan(available, dict(held), {**teams, **defaults}, ceilings)


# ----------------------------------------------------------------------------------- checks


def _held_by(pool: str, held: Mapping[str, int]) -> str:
    n = held.get(pool, 0)
    return f", {n} held by running servers" if n else ""


def check_queues(
    q: QueuesConfig, pools: Mapping[str, PoolFacts], plan: QueuePlan, *, kueue: bool
) -> list[str]:
    if not kueue:
        given = [k for k, v in (("teams", q.teams), ("priorities", q.priorities)) if v]
        given += ["defaultPriority"] * (q.default_priority is not None)
        return [
            f"{key('queues', k)}: needs addons.kueue (and a job operator for it to queue), "
            "which is disabled; enable it or remove the key"
            for k in given
        ]
    issues = []
    for team, t in q.teams.items():
        path = ("queues", "teams", team)
        issues += dns_name(path, team)
        if team in pools:
            issues.append(
                f"{key(*path)}: name {team!r} is pool {team!r}'s default queue; name the team "
                "otherwise"
            )
        if not t.pools:
            issues.append(
                f"{key(*path, 'pools')}: missing; a team needs a share (GPUs) of one or more "
                f"pools, e.g. {{{next(iter(pools), 'large')}: 8}}"
            )
        for pool, gpus in t.pools.items():
            where = key(*path, "pools", pool)
            if pool not in pools:
                issues.append(unknown_pool(where, pool, pools))
            elif gpus < 1:
                issues.append(f"{where} = {gpus}: a share is at least 1 GPU; drop the pool instead")
    for pool in pools:
        shares = {t: c.pools[pool] for t, c in q.teams.items() if c.pools.get(pool, 0) > 0}
        total, quota = sum(shares.values()), plan.pools[pool].gpus
        if total > quota:
            listed = ", ".join(f"{t} {g}" for t, g in shares.items())
            issues.append(
                f"{key('queues', 'teams')}: the shares of pool {pool!r} add up to {total} GPUs "
                f"({listed}), above the {quota} its queues have (its ceiling "
                f"{plan.ceilings[pool]}{_held_by(pool, plan.held)}); lower them"
            )
    for name in q.priorities:
        if problem := k8s_names.dns1123_subdomain(name):
            issues.append(f"{key('queues', 'priorities', name)}: name {name!r} {problem}")
    if q.default_priority is not None and q.default_priority not in q.priorities:
        issues.append(
            not_in(
                key("queues", "defaultPriority"),
                q.default_priority,
                q.priorities,
                problem="no such priority",
                among=key("queues", "priorities"),
            )
        )
    # The ClusterQueue CRD's own rule (kueue v0.19.2 kueue.x-k8s.io_clusterqueues.yaml).
    if q.preemption.reclaim == "Never" and q.preemption.borrow_within_cohort != "Never":
        issues.append(
            f"{key('queues', 'preemption', 'borrowWithinCohort')} = "
            f"{q.preemption.borrow_within_cohort!r}: needs reclaim other than 'Never' (Kueue "
            "refuses a queue that preempts to borrow but never to reclaim)"
        )
    return issues


def check_job_queue(
    path: tuple,
    *,
    queue: str | None,
    priority: str | None,
    pool: str,
    gpus: int,
    q: QueuesConfig,
    plan: QueuePlan,
    kueue: bool,
) -> list[str]:
    """A job's `queue` and `priority`: they exist, and the queue can ever hold the job's GPUs
    (`gpus`: at its most nodes; Kueue reserves quota for every pod a job may have)."""
    if not kueue:
        given = [k for k, v in (("queue", queue), ("priority", priority)) if v is not None]
        return [f"{key(*path, k)}: needs addons.kueue, which is disabled" for k in given]
    issues = []
    if priority is not None and priority not in q.priorities:
        issues.append(
            not_in(
                key(*path, "priority"),
                priority,
                q.priorities,
                problem="no such priority",
                among=key("queues", "priorities"),
            )
        )
    name = queue or pool
    where = key(*path, "queue")
    if name not in plan.queues:
        return issues + [
            not_in(
                where,
                name,
                plan.queues,
                problem="no such queue",
                among="a team of queues.teams, or a pool's default queue",
            )
        ]
    most = plan.most_gpus(name, pool)
    what = f"queue {name!r}" + ("" if queue else " (the pool's default queue)")
    if most is None:
        pools = ", ".join(plan.queues[name].quotas) or "none"
        return issues + [
            f"{where} = {name!r}: {what} has no quota in pool {pool!r} (its pools: {pools}); "
            f"give team {name!r} a share of {pool!r} or use another queue"
        ]
    # Above the pool's own ceiling is the job's own check (workloads.check_job).
    if most < gpus <= plan.ceilings[pool]:
        how = "with what it may borrow" if plan.queues[name].borrow else "(borrow: false)"
        issues.append(
            f"{where} = {name!r}: the job needs {gpus} GPUs of pool {pool!r} at its most nodes, "
            f"but {what} can hold at most {most} {how}{_held_by(pool, plan.held)}; Kueue would "
            "never admit it"
        )
    return issues
