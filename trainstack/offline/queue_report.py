"""The plan's Queues section: each Kueue queue with its quota per pool, what the pools give the
queues, the priorities and preemption rules, and which queue each job waits in."""

from __future__ import annotations

from components import kueue_objects, queueing
from components.config import PlatformConfig
from components.config.queues import QueuePlan


def _held(plan: QueuePlan, pool: str, queued_gpus: int) -> str:
    held = plan.held.get(pool, 0)
    if not held:
        return f"{pool} {queued_gpus} GPUs"
    return (
        f"{pool} {queued_gpus} of {plan.ceilings[pool]} GPUs ({held} held by running servers, "
        "which Kueue does not admit)"
    )


def queue_lines(cfg: PlatformConfig) -> list[str]:
    if not queueing.queued(cfg):
        return [
            "Queues: none (addons.kueue disabled, or no job operator): a job starts when it "
            "is not suspended",
            "",
        ]
    plan = cfg.queue_plan()
    lines = [
        f"Queues (Kueue {cfg.addons.kueue.version}, cohort {kueue_objects.COHORT}; a job waits "
        f"in one until its GPUs are free, LocalQueues in namespace {cfg.jobs_namespace}):",
        f"  {'queue':<16} {'of':<6} {'pool':<14} {'GPUs':>5} {'vCPUs':>6} {'memory':>8}  borrows",
    ]
    for q in plan.queues.values():
        for pool, quota in q.quotas.items():
            lines.append(
                f"  {q.name:<16} {'team' if q.team else 'pool':<6} {pool:<14} {quota.gpus:>5} "
                f"{quota.cpu:>6} {f'{quota.memory_gib}Gi':>8}  "
                f"{'up to ' + str(plan.pools[pool].gpus) + ' GPUs' if q.borrow else 'no'}"
            )
    lines.append(
        "  For the queues: "
        + "; ".join(_held(plan, p, quota.gpus) for p, quota in plan.pools.items())
    )
    p = cfg.queues.preemption
    lines.append(
        f"  Preemption: within a queue {p.within_queue}, reclaiming lent GPUs {p.reclaim}, "
        f"to borrow {p.borrow_within_cohort}; a preempted job is suspended (its trainer saves "
        "on SIGTERM) and queued again"
    )
    if cfg.queues.priorities:
        default = cfg.queues.default_priority
        lines.append(
            "  Priorities: "
            + ", ".join(
                f"{n} {c.value}" + (" (default)" if n == default else "")
                for n, c in sorted(cfg.queues.priorities.items(), key=lambda kv: -kv[1].value)
            )
        )
    for name in cfg.training_jobs:
        labels = queueing.job_labels(cfg, name)
        priority = labels.get(queueing.PRIORITY_LABEL, "none")
        lines.append(f"  {name}: queue {labels[queueing.QUEUE_LABEL]}, priority {priority}")
    return lines + [""]
