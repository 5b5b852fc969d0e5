"""The queue lines of `trainstack status`: a job's Kueue admission state and, while it waits, its
position. The same for every kind in job_kinds.KINDS: Kueue's Workload names its job by owner
reference and the `kueue.x-k8s.io/job-uid` label, whatever the job's kind.

States (jobwatch/kueue.py `admission`): admitted to a ClusterQueue on its flavors; pending with
the reason Kueue gives and the position the visibility API reports (estimated from the
namespace's Workloads when it does not answer, and said so); evicted or preempted with Kueue's
message; held by the `kueue.x-k8s.io/admission-gated-by` annotation; deactivated; finished.
"""

from __future__ import annotations

import time
from typing import Any

from jobwatch import kueue
from jobwatch.incidents import epoch

from . import kueue_api


def queue_lines(api_client, job: dict[str, Any], now: float | None = None) -> list[str]:
    """The lines for the job, indented as the status text's; [] in a cluster without Kueue."""
    from kubernetes.client.rest import ApiException

    meta = job.get("metadata") or {}
    namespace = meta.get("namespace", "")
    try:
        workloads = kueue_api.list_objects(api_client, kueue.WORKLOADS, namespace)
    except ApiException as err:
        if err.status == 404:  # Kueue's kinds are not served: it is not installed
            return []
        if err.status in (401, 403):
            return [f"  queue: Kueue's Workloads in {namespace} may not be read ({err.status})"]
        raise
    wl = kueue.workload_of(workloads, str(meta.get("uid") or ""))
    if wl is None:
        if (meta.get("labels") or {}).get(kueue.QUEUE_LABEL):
            return ["  queue: no Kueue Workload yet (Kueue creates one when it sees the job)"]
        return [
            f"  queue: not managed by Kueue (no {kueue.QUEUE_LABEL} label, and its namespace "
            "has no LocalQueue named default)"
        ]
    return describe(
        wl, job, workloads, kueue_api.Visibility(api_client), time.time() if now is None else now
    )


def describe(
    wl: kueue.Workload,
    job: dict[str, Any],
    workloads: list[kueue.Workload],
    visibility: kueue_api.Visibility,
    now: float,
) -> list[str]:
    state = kueue.admission(wl, job)
    lq = kueue.local_queue(wl)
    pc = kueue.priority_class(wl)
    prio = f"priority {pc} ({kueue.priority(wl)})" if pc else f"priority {kueue.priority(wl)}"
    flavors = f" on flavor {', '.join(state.flavors)}" if state.flavors else ""
    said = f"{state.reason}: {state.message}".strip(": ")
    if state.state == "admitted":
        lines = [
            f"  queue: admitted to ClusterQueue {state.cluster_queue}{flavors} from LocalQueue "
            f"{lq} at {state.since}; {prio}"
        ]
    elif state.state == "reserved":
        lines = [
            f"  queue: quota reserved in ClusterQueue {state.cluster_queue}{flavors}, awaiting "
            f"admission checks; {prio}",
            f"    Kueue: {said}",
        ]
    elif state.state == "evicted":
        lines = [
            f"  queue: being evicted from ClusterQueue {state.cluster_queue}: its pods are "
            "stopping, then it is requeued",
            f"    Kueue: {said}",
        ]
    elif state.state == "held":
        lines = [
            f"  queue: held, not queued until the gate is removed ({kueue.GATE_ANNOTATION}); "
            f"LocalQueue {lq}",
            f"    Kueue: {said}",
        ]
    elif state.state == "deactivated":
        lines = [
            "  queue: deactivated (its Workload's spec.active is false): not requeued until it "
            "is set back to true",
            f"    Kueue: {said}",
        ]
    elif state.state == "finished":
        lines = [f"  queue: finished ({said})"]
    else:
        lines = pending_lines(wl, workloads, visibility, now, lq, prio, said)
    return lines + history_lines(wl, state, workloads)


def pending_lines(
    wl: kueue.Workload,
    workloads: list[kueue.Workload],
    visibility: kueue_api.Visibility,
    now: float,
    lq: str,
    prio: str,
    said: str,
) -> list[str]:
    meta = wl["metadata"]
    since = kueue.waiting_since(wl)
    waited = f" ({kueue.duration_text(now - epoch(since))})" if since else ""
    items = visibility.local_queue(meta.get("namespace", ""), lq) if lq else None
    if items is not None:
        found = kueue_api.position_of(items, meta["name"])
        where = (
            f"position {found.cluster_queue + 1} in its ClusterQueue, {found.local_queue + 1} "
            "in the LocalQueue"
            if found
            else "not in the queue's pending list (Kueue has set it aside as inadmissible)"
        )
    else:
        where = f"position {estimated_position(wl, workloads)} in the LocalQueue (estimated)"
    lines = [
        f"  queue: pending in LocalQueue {lq}, {where}; waiting since {since}{waited}; {prio}",
        f"    Kueue: {said or 'no reason given yet'}",
    ]
    if items is None:
        lines.append(f"    ({visibility.estimated()})")
    count, at = kueue.requeue_state(wl)
    if count:
        lines.append(
            f"    requeued {count} time(s) after its pods were not ready in time"
            + (f"; next attempt at {at}" if at else "")
        )
    return lines


def estimated_position(wl: kueue.Workload, workloads: list[kueue.Workload]) -> int:
    """From 1: the pending Workloads of the same LocalQueue ahead of it, by Kueue's order."""
    ns, lq = wl["metadata"].get("namespace"), kueue.local_queue(wl)
    same = [
        w
        for w in workloads
        if w["metadata"].get("namespace") == ns
        and kueue.local_queue(w) == lq
        and kueue.admission(w).state == "pending"
    ]
    return 1 + sum(kueue.order_key(w) < kueue.order_key(wl) for w in same)


def history_lines(
    wl: kueue.Workload, state: kueue.Admission, workloads: list[kueue.Workload]
) -> list[str]:
    """A preemption since, or an eviction the pending Workload came back from."""
    p = kueue.preemption(wl)
    if p is not None and state.state != "evicted":
        why = f" ({p.why})" if p.why else ""
        return [
            f"    preempted {p.count} time(s); last by {kueue.preemptor_text(p, workloads)}{why}"
        ]
    reason, message, _ = kueue.eviction(wl)
    if reason and state.state == "pending":
        said = "as Kueue says above" if message == state.message else message
        return [f"    evicted: {reason}: {said}".rstrip(": ")]
    return []
