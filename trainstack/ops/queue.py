"""`trainstack queue`: every Kueue ClusterQueue and LocalQueue with its quota, usage and
borrowing, its admitted and pending counts, and the pending jobs in the order Kueue will admit
them, each with the reason Kueue gives. queue_view.py draws the report as text; `to_dict` is the
`--json` form.

Positions come from Kueue's visibility API (kueue_api.Visibility); when it does not answer they
are estimated from the Workloads (priority, then time queued) and the report says so. With a
namespace (`--stack`'s jobsNamespace, or `-n`) only that namespace's LocalQueues and the
ClusterQueues they feed are shown; a ClusterQueue's pending list still counts the other
namespaces' jobs ahead, as the visibility API does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from jobwatch import kueue

from . import kueue_api


@dataclass
class PendingJob:
    """A Workload without quota in a ClusterQueue: its job, queue, priority, position (from 0;
    None when Kueue does not list it, e.g. set aside as inadmissible or held) and Kueue's
    reason. Jobs of other namespaces (seen only through the visibility API) have no reason."""

    namespace: str
    workload: str
    job: str  # "PyTorchJob training/llm"
    local_queue: str
    priority: int
    priority_class: str = ""
    position: int | None = None
    position_in_local_queue: int | None = None
    state: str = "pending"
    reason: str = ""
    message: str = ""
    waiting_since: str = ""
    requeued: int = 0
    requeue_at: str = ""
    evicted: str = ""  # "reason: message" of the eviction it came back from
    preempted: int = 0


@dataclass
class ClusterQueueView:
    name: str
    cohort: str
    active: str  # "Active" or "Inactive (reason: message)"
    admitted: int
    reserving: int
    pending_count: int
    quotas: list[kueue.Quota]
    stop_policy: str = ""
    pending: list[PendingJob] = field(default_factory=list)


@dataclass
class LocalQueueView:
    namespace: str
    name: str
    cluster_queue: str
    active: str
    admitted: int
    reserving: int
    pending_count: int
    usage: list[dict[str, str]]  # {flavor, resource, inUse, reserved}
    stop_policy: str = ""


@dataclass
class QueueReport:
    cluster_queues: list[ClusterQueueView]
    local_queues: list[LocalQueueView]
    namespace: str | None = None
    estimated: str = ""  # why positions are estimated; '' when the visibility API gave them

    def to_dict(self) -> dict[str, Any]:
        data = _camelized(asdict(self))
        data["positions"] = {
            "source": "estimated" if self.estimated else "visibility API",
            "note": self.estimated,
        }
        del data["estimated"]
        return data


def _camelized(value: Any) -> Any:
    """asdict()'s snake_case keys as the API's camelCase, all the way down."""
    if isinstance(value, dict):
        return {_camel(k): _camelized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camelized(v) for v in value]
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def active_state(obj: dict[str, Any]) -> str:
    """A ClusterQueue's or LocalQueue's Active condition, as `queue` and `doctor` print it."""
    c = next(
        (c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == "Active"),
        None,
    )
    if c is None:
        return "unknown (no Active condition yet)"
    if c.get("status") == "True":
        return "Active"
    return f"Inactive ({c.get('reason', '')}: {c.get('message', '')})".replace(" : ", " ")


def _counts(obj: dict[str, Any]) -> tuple[int, int, int]:
    st = obj.get("status") or {}
    return (
        int(st.get("admittedWorkloads") or 0),
        int(st.get("reservingWorkloads") or 0),
        int(st.get("pendingWorkloads") or 0),
    )


def local_queue_view(lq: dict[str, Any]) -> LocalQueueView:
    st = lq.get("status") or {}
    reserved = {
        (f.get("name"), r.get("name")): str(r.get("total", "0"))
        for f in st.get("flavorsReservation") or []
        for r in f.get("resources") or []
    }
    usage = [
        {
            "flavor": str(f.get("name")),
            "resource": str(r.get("name")),
            "inUse": str(r.get("total", "0")),
            "reserved": reserved.get((f.get("name"), r.get("name")), "0"),
        }
        for f in st.get("flavorsUsage") or []
        for r in f.get("resources") or []
    ]
    meta, spec = lq["metadata"], lq.get("spec") or {}
    return LocalQueueView(
        meta.get("namespace", ""),
        meta["name"],
        str(spec.get("clusterQueue") or ""),
        active_state(lq),
        *_counts(lq),
        usage=usage,
        stop_policy=str(spec.get("stopPolicy") or ""),
    )


def pending_job(wl: kueue.Workload) -> PendingJob:
    meta, state = wl["metadata"], kueue.admission(wl)
    count, at = kueue.requeue_state(wl)
    reason, message, _ = kueue.eviction(wl)
    p = kueue.preemption(wl)
    return PendingJob(
        namespace=meta.get("namespace", ""),
        workload=meta["name"],
        job=kueue.owner_text(wl),
        local_queue=kueue.local_queue(wl),
        priority=kueue.priority(wl),
        priority_class=kueue.priority_class(wl),
        state=state.state,
        reason=state.reason,
        message=state.message,
        waiting_since=kueue.waiting_since(wl),
        requeued=count,
        requeue_at=at,
        evicted=f"{reason}: {message}".rstrip(": ") if reason else "",
        preempted=p.count if p else 0,
    )


def _from_visibility(item: dict[str, Any]) -> PendingJob:
    """A pending Workload seen only through the visibility API (another namespace's)."""
    meta = item.get("metadata") or {}
    wl = {"metadata": meta}
    return PendingJob(
        namespace=meta.get("namespace", ""),
        workload=meta.get("name", ""),
        job=kueue.owner_text(wl),
        local_queue=str(item.get("localQueueName") or ""),
        priority=int(item.get("priority") or 0),
        waiting_since=str(meta.get("creationTimestamp") or ""),
    )


def pending_in(
    cq: str,
    waiting: list[kueue.Workload],
    visibility: kueue_api.Visibility,
) -> list[PendingJob]:
    """The ClusterQueue's pending jobs, in admission order; those Kueue does not order (held,
    set aside) last."""
    mine = {(w["metadata"].get("namespace"), w["metadata"]["name"]): w for w in waiting}
    items = visibility.cluster_queue(cq)
    out: list[PendingJob] = []
    if items is not None:
        for item in sorted(items, key=lambda i: int(i.get("positionInClusterQueue") or 0)):
            meta = item.get("metadata") or {}
            wl = mine.pop((meta.get("namespace"), meta.get("name")), None)
            job = pending_job(wl) if wl is not None else _from_visibility(item)
            job.position = int(item.get("positionInClusterQueue") or 0)
            job.position_in_local_queue = int(item.get("positionInLocalQueue") or 0)
            out.append(job)
        return out + [pending_job(w) for w in sorted(mine.values(), key=kueue.order_key)]
    queued = sorted(
        (w for w in mine.values() if kueue.admission(w).state == "pending"), key=kueue.order_key
    )
    per_lq: dict[tuple[str, str], int] = {}
    for i, wl in enumerate(queued):
        job = pending_job(wl)
        lq_key = (job.namespace, job.local_queue)
        job.position, job.position_in_local_queue = i, per_lq.get(lq_key, 0)
        per_lq[lq_key] = per_lq.get(lq_key, 0) + 1
        out.append(job)
    rest = [w for w in mine.values() if kueue.admission(w).state != "pending"]
    return out + [pending_job(w) for w in sorted(rest, key=kueue.order_key)]


def read(api_client, namespace: str | None = None) -> QueueReport:
    """The report of every queue, or of one namespace's; Kueue's 404 (not installed) is the
    caller's."""
    cqs = kueue_api.list_objects(api_client, kueue.CLUSTER_QUEUES)
    lqs = kueue_api.list_objects(api_client, kueue.LOCAL_QUEUES, namespace)
    workloads = kueue_api.list_objects(api_client, kueue.WORKLOADS, namespace)
    feeds = {(lq["metadata"].get("namespace"), lq["metadata"]["name"]): lq for lq in lqs}
    if namespace is not None:
        wanted = {str((lq.get("spec") or {}).get("clusterQueue")) for lq in lqs}
        cqs = [cq for cq in cqs if cq["metadata"]["name"] in wanted]
    waiting: dict[str, list[kueue.Workload]] = {}
    for wl in workloads:
        if kueue.admission(wl).state not in ("pending", "held"):
            continue
        lq = feeds.get((wl["metadata"].get("namespace"), kueue.local_queue(wl)))
        cq = str(((lq or {}).get("spec") or {}).get("clusterQueue") or "")
        waiting.setdefault(cq, []).append(wl)
    visibility = kueue_api.Visibility(api_client)
    views = []
    for cq in sorted(cqs, key=lambda c: c["metadata"]["name"]):
        spec, name = cq.get("spec") or {}, cq["metadata"]["name"]
        views.append(
            ClusterQueueView(
                name,
                str(spec.get("cohortName") or ""),
                active_state(cq),
                *_counts(cq),
                quotas=kueue.quotas(cq),
                stop_policy=str(spec.get("stopPolicy") or ""),
                pending=pending_in(name, waiting.pop(name, []), visibility),
            )
        )
    for cq_name, stranded in sorted(waiting.items()):
        # Workloads whose LocalQueue, or its ClusterQueue, does not exist: Kueue cannot queue
        # them (they stay pending with reason Inadmissible).
        missing = f"missing: no ClusterQueue {cq_name}" if cq_name else "missing: no LocalQueue"
        pending = [pending_job(w) for w in sorted(stranded, key=kueue.order_key)]
        views.append(ClusterQueueView(cq_name, "", missing, 0, 0, len(stranded), [], "", pending))
    lq_views = sorted((local_queue_view(lq) for lq in lqs), key=lambda v: (v.namespace, v.name))
    return QueueReport(views, lq_views, namespace, visibility.estimated())
