"""A job's Kueue Workload as the watcher and `trainstack status`/`queue` read it: which Workload is
the job's, whether it is admitted, pending (and why), held, evicted or preempted, and since when.
Pure functions over the Workload as the API returns it (kueue.x-k8s.io/v1beta2); stdlib only.

Field names, condition types and reasons are Kueue v0.19.2's (apis/kueue/v1beta2/
workload_types.go); the preemption message is the one pkg/scheduler/preemption/preemption.go
`preemptionMessage` writes at that tag, and the wait start is the one pkg/workload/workload.go
`QueuedWaitTime` measures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .incidents import epoch

GROUP, VERSION = "kueue.x-k8s.io", "v1beta2"
WORKLOADS, LOCAL_QUEUES, CLUSTER_QUEUES = "workloads", "localqueues", "clusterqueues"
VISIBILITY_GROUP = "visibility.kueue.x-k8s.io"
# Set by Kueue on every Workload it creates for a job (pkg/controller/constants/constants.go).
JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
# While present (on the job, copied to its Workload), the Workload is never given quota
# (pkg/constants/constants.go AdmissionGatedByAnnotation).
GATE_ANNOTATION = "kueue.x-k8s.io/admission-gated-by"
PREEMPTED = "Preempted"  # the Evicted reason, and the condition type, of a preemption
PODS_READY_TIMEOUT = "PodsReadyTimeout"
# "Preempted to accommodate a workload (UID: u, JobUID: j) due to <why>; preemptor path: /a/b;
# preemptee path: /a/c" (preemption.go preemptionMessage at v0.19.2). Kueue prefixes a condition
# it resets with "Previously: " (workload.go resetActiveCondition).
PREEMPTION_RE = re.compile(
    r"Preempted to accommodate a workload \(UID: (?P<uid>[^,]*), JobUID: (?P<job_uid>[^)]*)\) "
    r"due to (?P<why>[^;]*)(?:; preemptor path: (?P<preemptor_path>[^;]*))?"
    r"(?:; preemptee path: (?P<preemptee_path>[^;]*))?"
)

Workload = dict[str, Any]


def conditions(wl: Workload) -> list[dict[str, Any]]:
    return list((wl.get("status") or {}).get("conditions") or [])


def condition(wl: Workload, kind: str) -> dict[str, Any] | None:
    return next((c for c in conditions(wl) if c.get("type") == kind), None)


def is_true(wl: Workload, kind: str) -> bool:
    return (condition(wl, kind) or {}).get("status") == "True"


def owner(wl: Workload) -> dict[str, Any]:
    """The job the Workload stands for: its controller owner reference ({} for none)."""
    refs = (wl.get("metadata") or {}).get("ownerReferences") or []
    return next((r for r in refs if r.get("controller")), refs[0] if refs else {})


def job_uid(wl: Workload) -> str:
    labels = (wl.get("metadata") or {}).get("labels") or {}
    return str(labels.get(JOB_UID_LABEL) or owner(wl).get("uid") or "")


def workload_of(workloads: list[Workload], uid: str) -> Workload | None:
    """The job's Workload among `workloads`: by the job-uid label Kueue sets, or by owner
    reference; the newest when a job has had several (Kueue replaces one whose pod sets changed)."""
    mine = [w for w in workloads if uid and uid in _job_uids(w)]
    return max(mine, key=lambda w: str(w["metadata"].get("creationTimestamp") or ""), default=None)


def _job_uids(wl: Workload) -> set[str]:
    meta = wl.get("metadata") or {}
    refs = {str(r.get("uid")) for r in meta.get("ownerReferences") or [] if r.get("uid")}
    label = (meta.get("labels") or {}).get(JOB_UID_LABEL)
    return refs | ({str(label)} if label else set())


def gates(wl: Workload, job: dict[str, Any] | None = None) -> str:
    """The admission gates holding the Workload (the annotation's value), '' for none."""
    for obj in (wl, job or {}):
        value = ((obj.get("metadata") or {}).get("annotations") or {}).get(GATE_ANNOTATION)
        if value:
            return str(value)
    return ""


def priority(wl: Workload) -> int:
    value = (wl.get("spec") or {}).get("priority")
    return int(value) if value is not None else 0


def priority_class(wl: Workload) -> str:
    return str(((wl.get("spec") or {}).get("priorityClassRef") or {}).get("name") or "")


def local_queue(wl: Workload) -> str:
    return str((wl.get("spec") or {}).get("queueName") or "")


@dataclass(frozen=True)
class Admission:
    """Where a Workload stands. `state`: finished, deactivated, held (an admission gate),
    evicted (still holding quota while its job is stopped), admitted, reserved (quota reserved,
    admission checks pending) or pending (a preempted or timed-out Workload is pending again
    once its job stopped: `eviction` says why it left); `reason`/`message`: Kueue's own words,
    from the condition behind the state, `since` when that condition turned so."""

    state: str
    cluster_queue: str = ""
    flavors: tuple[str, ...] = ()
    reason: str = ""
    message: str = ""
    since: str = ""


def _said(c: dict[str, Any] | None) -> tuple[str, str, str]:
    c = c or {}
    return (
        str(c.get("reason") or ""),
        str(c.get("message") or ""),
        str(c.get("lastTransitionTime") or ""),
    )


def admission(wl: Workload, job: dict[str, Any] | None = None) -> Admission:
    granted = (wl.get("status") or {}).get("admission") or {}
    cq = str(granted.get("clusterQueue") or "")
    flavors = tuple(
        sorted(
            {
                str(f)
                for a in granted.get("podSetAssignments") or []
                for f in (a.get("flavors") or {}).values()
            }
        )
    )
    if is_true(wl, "Finished"):
        return Admission("finished", cq, flavors, *_said(condition(wl, "Finished")))
    if (wl.get("spec") or {}).get("active") is False:
        return Admission("deactivated", cq, flavors, *_said(condition(wl, "Evicted")))
    reserved = is_true(wl, "QuotaReserved")
    if reserved and is_true(wl, "Evicted"):
        return Admission("evicted", cq, flavors, *_said(condition(wl, "Evicted")))
    if is_true(wl, "Admitted"):
        return Admission("admitted", cq, flavors, *_said(condition(wl, "Admitted")))
    if reserved:
        return Admission("reserved", cq, flavors, *_said(condition(wl, "Admitted")))
    gate = gates(wl, job)
    if gate:
        _, message, since = _said(condition(wl, "QuotaReserved"))
        held = message if message.startswith("Admission is gated") else ""
        return Admission(
            "held", "", (), "AdmissionGated", held or f"Admission is gated by: {gate}", since
        )
    return Admission("pending", "", (), *_said(condition(wl, "QuotaReserved")))


def eviction(wl: Workload) -> tuple[str, str, str]:
    """(reason, message, when) of the eviction a Workload has not been readmitted since; the
    Evicted condition stays True until quota is reserved again (workload.go
    SetQuotaReservation). ('', '', '') for none."""
    found = condition(wl, "Evicted")
    return _said(found) if found and found.get("status") == "True" else ("", "", "")


def waiting_since(wl: Workload) -> str:
    """When the Workload last joined its queue: its Requeued condition's transition, else its
    creation (Kueue's own QueuedWaitTime)."""
    requeued = condition(wl, "Requeued")
    if requeued and requeued.get("lastTransitionTime"):
        return str(requeued["lastTransitionTime"])
    return str((wl.get("metadata") or {}).get("creationTimestamp") or "")


def requeue_state(wl: Workload) -> tuple[int, str]:
    """(times requeued after a PodsReady timeout, when the next attempt may be); (0, '')."""
    rs = (wl.get("status") or {}).get("requeueState") or {}
    return int(rs.get("count") or 0), str(rs.get("requeueAt") or "")


def order_key(wl: Workload) -> tuple[int, float, str]:
    """The order Kueue's queues keep (higher priority first, then older), for when its
    visibility API cannot say: the queue timestamp is the creation, or the eviction of a
    Workload requeued after a PodsReady timeout (workload.go GetQueueOrderTimestamp with the
    default requeuing timestamp, Eviction)."""
    evicted = condition(wl, "Evicted") or {}
    stamp = (wl.get("metadata") or {}).get("creationTimestamp")
    if evicted.get("status") == "True" and evicted.get("reason") == PODS_READY_TIMEOUT:
        stamp = evicted.get("lastTransitionTime") or stamp
    return -priority(wl), epoch(stamp), str((wl.get("metadata") or {}).get("name") or "")


@dataclass(frozen=True)
class Preemption:
    """The newest preemption of a Workload: `count` is how many it has had (its key), `why`
    Kueue's reason in words, the preemptor's Workload and job UIDs when the message names them,
    and the ClusterQueue paths (/cohort/queue) of both."""

    count: int
    message: str
    why: str = ""
    preemptor_uid: str = ""
    preemptor_job_uid: str = ""
    preemptor_path: str = ""
    preemptee_path: str = ""
    at: str = ""


def preemption(wl: Workload) -> Preemption | None:
    """None when the Workload was never preempted. Counted from status.schedulingStats
    (incremented at every eviction, kept after readmission), else from a Preempted condition."""
    stats = ((wl.get("status") or {}).get("schedulingStats") or {}).get("evictions") or []
    count = sum(int(e.get("count") or 0) for e in stats if e.get("reason") == PREEMPTED)
    found = condition(wl, PREEMPTED)
    evicted = condition(wl, "Evicted") or {}
    by_preemption = evicted if evicted.get("reason") == PREEMPTED else {}
    if not (
        count or (found or {}).get("status") == "True" or by_preemption.get("status") == "True"
    ):
        return None
    source = found or by_preemption
    message = str(source.get("message") or "")
    message = message.removeprefix("Previously: ")
    at = str(source.get("lastTransitionTime") or "") if source.get("status") == "True" else ""
    m = PREEMPTION_RE.search(message)

    def part(name: str) -> str:
        value = ((m.group(name) if m else None) or "").strip()
        return "" if value == "UNKNOWN" else value

    return Preemption(
        count=count or 1,
        message=message,
        why=part("why"),
        preemptor_uid=part("uid"),
        preemptor_job_uid=part("job_uid"),
        preemptor_path=part("preemptor_path"),
        preemptee_path=part("preemptee_path"),
        at=at,
    )


def cluster_queue_of_path(path: str) -> str:
    """`/cohort/queue` -> `queue`."""
    return path.rstrip("/").rpartition("/")[2]


def owner_text(wl: Workload) -> str:
    """`PyTorchJob training/llm` for the job behind a Workload; the Workload's own name else."""
    meta, ref = wl.get("metadata") or {}, owner(wl)
    where = f"{meta.get('namespace', '?')}/"
    if ref.get("kind") and ref.get("name"):
        return f"{ref['kind']} {where}{ref['name']}"
    return f"Workload {where}{meta.get('name', '?')}"


def preemptor_text(p: Preemption, workloads: list[Workload]) -> str:
    """The preemptor as the message can name it: its job when its Workload is among
    `workloads` (same namespace), else its ClusterQueue and job UID."""
    for wl in workloads:
        uid = (wl.get("metadata") or {}).get("uid")
        if (p.preemptor_uid and uid == p.preemptor_uid) or (
            p.preemptor_job_uid and job_uid(wl) == p.preemptor_job_uid
        ):
            pc = priority_class(wl)
            return owner_text(wl) + (f" (priority {pc})" if pc else "")
    if p.preemptor_path or p.preemptor_job_uid:
        where = (
            f"ClusterQueue {cluster_queue_of_path(p.preemptor_path)}" if p.preemptor_path else ""
        )
        uid = f"job UID {p.preemptor_job_uid}" if p.preemptor_job_uid else ""
        return "a workload " + ", ".join(x for x in (f"in {where}" if where else "", uid) if x)
    return "another workload"


def duration_text(seconds: float) -> str:
    """A wait in the unit a reader takes in: minutes, then hours, then days."""
    m = int(max(seconds, 0) // 60)
    if m < 120:
        return f"{m} min"
    if m < 48 * 60:
        return f"{m // 60} h {m % 60} min"
    return f"{m // 1440} d {m % 1440 // 60} h"


@dataclass(frozen=True)
class Quota:
    """One [flavor, resource] of a ClusterQueue: its quota (quantities as the API writes them;
    a limit of None is unlimited: borrow or lend all) and what is reserved, in use and borrowed
    now (status.flavorsReservation / flavorsUsage)."""

    flavor: str
    resource: str
    nominal: str
    borrowing_limit: str | None = None
    lending_limit: str | None = None
    reserved: str = "0"
    in_use: str = "0"
    borrowed: str = "0"


def _usage(entries: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (str(f.get("name")), str(r.get("name"))): r
        for f in entries or []
        for r in f.get("resources") or []
    }


def _limit(quota: dict[str, Any], name: str) -> str | None:
    return None if quota.get(name) is None else str(quota[name])


def quotas(cq: dict[str, Any]) -> list[Quota]:
    """Every [flavor, resource] a ClusterQueue declares, in its spec's order
    (apis/kueue/v1beta2/clusterqueue_types.go ResourceGroup, FlavorUsage)."""
    status = cq.get("status") or {}
    reserved, used = _usage(status.get("flavorsReservation")), _usage(status.get("flavorsUsage"))
    out = []
    for group in (cq.get("spec") or {}).get("resourceGroups") or []:
        for flavor in group.get("flavors") or []:
            for r in flavor.get("resources") or []:
                key = (str(flavor.get("name")), str(r.get("name")))
                out.append(
                    Quota(
                        *key,
                        nominal=str(r.get("nominalQuota", "0")),
                        borrowing_limit=_limit(r, "borrowingLimit"),
                        lending_limit=_limit(r, "lendingLimit"),
                        reserved=str(reserved.get(key, {}).get("total", "0")),
                        in_use=str(used.get(key, {}).get("total", "0")),
                        borrowed=str(used.get(key, {}).get("borrowed", "0")),
                    )
                )
    return out


# What the flavor assigner names in a pending Workload's message: "insufficient unused quota
# for nvidia.com/gpu in flavor gpu-a, 4 more needed", "insufficient quota for cpu in flavor f,
# ..." (pkg/scheduler/flavorassigner/flavorassigner.go at v0.19.2).
NAMED_QUOTA_RE = re.compile(r"quota for (?P<resource>\S+) in flavor (?P<flavor>[^,\s]+)")


def named_quotas(message: str) -> set[tuple[str, str]]:
    """The (flavor, resource) pairs a QuotaReserved message says are short."""
    return {(m["flavor"], m["resource"]) for m in NAMED_QUOTA_RE.finditer(message)}
