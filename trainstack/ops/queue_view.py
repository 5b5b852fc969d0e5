"""How `trainstack queue` draws its report (queue.py): per ClusterQueue its state, counts, quota
table and pending jobs in admission order with Kueue's reason; then the LocalQueues."""

from __future__ import annotations

from .queue import ClusterQueueView, LocalQueueView, PendingJob, QueueReport

QUOTA_HEADER = ("flavor", "resource", "nominal", "borrowing limit", "lending limit", "reserved",
                "in use", "borrowed")  # fmt: skip


def format_report(report: QueueReport) -> str:
    scope = f" feeding namespace {report.namespace}" if report.namespace else ""
    source = (
        f"positions estimated: {report.estimated}"
        if report.estimated
        else "positions from Kueue's visibility API, 1 = next"
    )
    lines = [
        f"Kueue: {len(report.cluster_queues)} ClusterQueue(s){scope}, "
        f"{len(report.local_queues)} LocalQueue(s); {source}"
    ]
    for cq in report.cluster_queues:
        lines += ["", *cluster_queue_lines(cq)]
    lines += ["", "LocalQueues:"]
    lines += [local_queue_line(lq) for lq in report.local_queues] or ["  none"]
    return "\n".join(lines)


def _stop(policy: str) -> str:
    """A stopPolicy other than the default None, as the state lines add it."""
    return f", stopPolicy {policy}" if policy and policy != "None" else ""


def _limit(value: str | None, cohort: str, unlimited: str) -> str:
    if value is not None:
        return value
    return unlimited if cohort else "-"  # without a cohort there is no one to borrow from/lend to


def table(rows: list[tuple[str, ...]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def cluster_queue_lines(cq: ClusterQueueView) -> list[str]:
    if not cq.quotas and cq.active.startswith("missing"):
        head = f"Jobs Kueue cannot queue ({cq.active}): {cq.pending_count} pending"
        return [head, *[pending_line(p) for p in cq.pending]]
    cohort = f" (cohort {cq.cohort})" if cq.cohort else ""
    lines = [
        f"ClusterQueue {cq.name}{cohort}: {cq.active}{_stop(cq.stop_policy)}; "
        f"{cq.admitted} admitted, {cq.reserving} reserving quota, {cq.pending_count} pending"
    ]
    if cq.quotas:
        rows = [QUOTA_HEADER] + [
            (
                q.flavor,
                q.resource,
                q.nominal,
                _limit(q.borrowing_limit, cq.cohort, "unlimited"),
                _limit(q.lending_limit, cq.cohort, "all"),
                q.reserved,
                q.in_use,
                q.borrowed,
            )
            for q in cq.quotas
        ]
        lines += table(rows)
    else:
        lines.append("  no quota declared")
    if cq.pending:
        lines.append("  pending, in the order Kueue admits them:")
        lines += [pending_line(p) for p in cq.pending]
    return lines


def pending_line(p: PendingJob) -> str:
    place = f"{p.position + 1}." if p.position is not None else "-"
    in_lq = f" #{p.position_in_local_queue + 1}" if p.position_in_local_queue is not None else ""
    prio = f"priority {p.priority}" + (f" ({p.priority_class})" if p.priority_class else "")
    state = "" if p.state == "pending" else f" [{p.state}]"
    since = f", {'since' if p.state == 'held' else 'waiting since'} {p.waiting_since}"
    head = f"    {place:>3} {p.job}{state}  LocalQueue {p.local_queue}{in_lq}, {prio}"
    lines = [head + (since if p.waiting_since else "")]
    if p.reason or p.message:
        lines.append(f"          {p.reason}: {p.message}".rstrip(": "))
    if p.evicted:  # only its reason when its message is the pending one above (Kueue copies it)
        reason, _, message = p.evicted.partition(": ")
        lines.append(f"          evicted before: {reason if message == p.message else p.evicted}")
    if p.preempted:
        lines.append(f"          preempted {p.preempted} time(s)")
    if p.requeued:
        at = f"; next attempt at {p.requeue_at}" if p.requeue_at else ""
        lines.append(f"          requeued {p.requeued} time(s) after PodsReady timeouts{at}")
    return "\n".join(lines)


def local_queue_line(lq: LocalQueueView) -> str:
    used = [u for u in lq.usage if u["inUse"] not in ("0", "")]
    usage = ", ".join(f"{u['flavor']} {u['resource']} {u['inUse']}" for u in used)
    return (
        f"  {lq.namespace}/{lq.name} -> ClusterQueue {lq.cluster_queue}: "
        f"{lq.active}{_stop(lq.stop_policy)}; {lq.admitted} admitted, {lq.reserving} reserving, "
        f"{lq.pending_count} pending" + (f"; in use: {usage}" if usage else "")
    )
