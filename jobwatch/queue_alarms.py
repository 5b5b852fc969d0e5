"""The watcher's queue alarms: a job whose Kueue Workload was preempted, and a job that has waited
for admission past `notifications.alarms.queueWaitMinutes`. Polled with the other alarms
(alarms.py), through the same record and publish path, once per preemption (keyed on the
Workload's eviction count, which Kueue keeps after readmission, so a preemption the poll missed
while it lasted is still told) and once per wait (keyed on when the wait began).

It reads the jobs namespace's Workloads once per poll and, for a message, the job's LocalQueue
and ClusterQueue (the watcher's Role and ClusterRole grant get/list on them;
components/jobwatch_manifests.py). A cluster without Kueue, or a stack deployed before those
grants, answers 404 or 403: the queue alarms then stay quiet. Message texts are built by the
pure functions below from the objects as the API returns them (kueue.py reads them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from . import kueue
from .incidents import epoch
from .kinds import Job, WatchedKind
from .node_faults import checkpoint_step

log = logging.getLogger("jobwatch.queue")
PREEMPTED = "Preempted#"
QUEUE_WAIT = "QueueWait#"
ENV_QUEUE_WAIT_S = "JOBWATCH_QUEUE_WAIT_S"
# Where a stack sets what the remedies name (components/config: pools.py, queues.py, the job).
POOL_CEILING = "karpenter.nodePools.<pool>.maxGpus or nodeGroups.<pool>.maxSize"
WAITING_STATES = ("pending",)  # not held (a gate is a person's choice), not deactivated


def preemption_key(p: kueue.Preemption) -> str:
    return f"{PREEMPTED}{p.count}"


def wait_key(wl: kueue.Workload) -> str:
    return f"{QUEUE_WAIT}{int(epoch(kueue.waiting_since(wl)))}"


def waited_s(wl: kueue.Workload, job: Job, now: float) -> float | None:
    """How long the Workload has waited for quota; None when it is not waiting (admitted,
    finished, held by a gate, deactivated)."""
    if kueue.admission(wl, job).state not in WAITING_STATES:
        return None
    since = kueue.waiting_since(wl)
    return max(0.0, now - epoch(since)) if since else None


def _resume(step: int | None) -> str:
    newest = f"step {step} or later" if step is not None else "its newest checkpoint"
    return (
        f"the trainer resumes from {newest} (it also saves one on SIGTERM when its pods are "
        "stopped, within their grace period)"
    )


def preemption_facts(
    name: str, wl: kueue.Workload, p: kueue.Preemption, workloads: list[kueue.Workload],
    step: int | None,
) -> list[str]:  # fmt: skip
    why = f" ({p.why})" if p.why else ""
    paths = (
        f" Preemptor's queue {p.preemptor_path}, this job's {p.preemptee_path}."
        if p.preemptor_path and p.preemptee_path
        else ""
    )
    lines = [
        "",
        f"Kueue evicted its Workload {wl['metadata'].get('name')} to make room for "
        f"{kueue.preemptor_text(p, workloads)}{why}; preemption #{p.count} of this job.{paths}",
    ]
    if p.message:
        lines.append(f"Kueue says: {p.message}")
    return [
        *lines,
        "",
        "Next: " + next_steps(wl, step),
        "",
        "Remedy: " + preemption_remedy(name, p),
    ]


def next_steps(wl: kueue.Workload, step: int | None) -> str:
    state = kueue.admission(wl)
    if state.state == "deactivated":
        return (
            "Kueue deactivated its Workload (spec.active false): it is not requeued until "
            f"someone sets spec.active back to true (kubectl -n {wl['metadata'].get('namespace')} "
            f"edit workload {wl['metadata'].get('name')})."
        )
    stopped = "Kueue suspended the job, which stops its pods, and requeued it"
    if state.state == "admitted":
        return (
            f"{stopped}; it has since been admitted again in ClusterQueue "
            f"{state.cluster_queue}, and {_resume(step)}."
        )
    return (
        f"{stopped}: it starts again when its ClusterQueue has the quota, and then {_resume(step)}."
    )


def preemption_remedy(name: str, p: kueue.Preemption) -> str:
    if "reclamation" in p.why or "Fair Sharing" in p.why:
        return (
            "the job ran on quota its queue borrowed from the cohort, and the lender took it "
            "back. For work that must not be reclaimed, give its team a larger nominal share "
            f"of the pool in `queues` (or raise the pool's ceiling, {POOL_CEILING})."
        )
    return (
        "a higher-priority job needed the quota. If this job should not yield to it, give it a "
        f"priority at least as high (trainingJobs.{name}.priority, a WorkloadPriorityClass "
        "declared in `queues`); else nothing is needed: it runs again when quota frees up."
    )


def wait_facts(
    name: str, namespace: str, wl: kueue.Workload, waited: float, threshold_s: float,
    cq: dict[str, Any] | None,
) -> list[str]:  # fmt: skip
    state = kueue.admission(wl)
    lq = kueue.local_queue(wl)
    cq_name = (cq or {}).get("metadata", {}).get("name")
    where = f"LocalQueue {lq}" + (f" (ClusterQueue {cq_name})" if cq_name else "")
    lines = [
        "",
        f"It has waited {kueue.duration_text(waited)} for admission in {where} since "
        f"{kueue.waiting_since(wl)} (alarm at {threshold_s / 60:g} min).",
        f"Kueue says: {state.reason}: {state.message}".rstrip(": ")
        if state.reason or state.message
        else "Kueue has given no reason yet.",
    ]
    count, at = kueue.requeue_state(wl)
    if count:
        lines.append(
            f"Requeued {count} time(s) after its pods were not ready in time"
            + (f"; next attempt at {at}." if at else ".")
        )
    lines += quota_lines(cq, state.message)
    lines += [
        "",
        "Remedy: " + wait_remedy(name, state),
        f"`trainstack queue -n {namespace}` shows its position and what holds the quota.",
    ]
    return lines


def quota_lines(cq: dict[str, Any] | None, message: str) -> list[str]:
    if not cq:
        return []
    named = kueue.named_quotas(message)
    rows = [q for q in kueue.quotas(cq) if not named or (q.flavor, q.resource) in named]
    out = []
    for q in rows:
        limit = "" if q.borrowing_limit is None else f", may borrow {q.borrowing_limit}"
        borrowed = f" ({q.borrowed} borrowed)" if q.borrowed not in ("0", "") else ""
        out.append(
            f"ClusterQueue {cq['metadata']['name']}, flavor {q.flavor}: {q.resource} "
            f"{q.in_use}{borrowed} in use of nominal {q.nominal}{limit}."
        )
    return out


def wait_remedy(name: str, state: kueue.Admission) -> str:
    text = f"{state.reason} {state.message}"
    if "ExceedsMaxQuota" in text or "maximum capacity" in text:
        return (
            "the job asks for more than its queue can ever give. Raise the pool's ceiling "
            f"({POOL_CEILING}: the ClusterQueue's quota comes from it) or the team's share in "
            f"`queues`, or make the job smaller (trainingJobs.{name}.nodes)."
        )
    if (
        state.reason == "Inadmissible"
        or "doesn't exist" in text
        or "is inactive" in text
        or "Stopped" in text
    ):
        return (
            "Kueue cannot queue it: its LocalQueue or ClusterQueue is missing or stopped. Check "
            f"that trainingJobs.{name}.queue names an active queue in its namespace."
        )
    return (
        "other jobs hold the quota it needs; it starts when they finish. To start it sooner, "
        f"raise its priority (trainingJobs.{name}.priority) so it goes first or preempts "
        "lower-priority work, raise the team's share of the pool in `queues`, or raise the "
        f"pool's ceiling ({POOL_CEILING})."
    )


class QueueAlarms:
    """The queue checks of one alarms poll (alarms.Alarms): the namespace's Workloads are read
    once, on the first job that needs them."""

    def __init__(self, alarms, wait_s: float, clock: Callable[[], float]):
        self.a, self.w, self.wait_s, self.clock = alarms, alarms.w, wait_s, clock
        self._workloads: list[kueue.Workload] | None = None

    def workloads(self) -> list[kueue.Workload]:
        from kubernetes.client.rest import ApiException

        if self._workloads is None:
            try:
                listed = self.w.custom.list_namespaced_custom_object(
                    kueue.GROUP, kueue.VERSION, self.w.namespace, kueue.WORKLOADS
                )
                self._workloads = list(listed.get("items") or [])
            except ApiException as err:
                if err.status not in (403, 404):  # no Kueue, or not yet allowed: quiet
                    raise
                self._workloads = []
        return self._workloads

    def check(self, kind: WatchedKind, job: Job) -> int:
        """The job's preemption and queue-wait alarms; the number sent."""
        wl = kueue.workload_of(self.workloads(), job["metadata"].get("uid", ""))
        if wl is None:
            return 0
        return self.check_preempted(kind, job, wl) + self.check_wait(kind, job, wl)

    def check_preempted(self, kind: WatchedKind, job: Job, wl: kueue.Workload) -> int:
        p = kueue.preemption(wl)
        if p is None:
            return 0
        meta, key = job["metadata"], preemption_key(p)
        previous = self.w.sent.claim(meta["uid"], kind.kind, key)
        if previous is False:
            return 0
        tail = self.a.rank0_log(kind, job, self.a.pods(kind, job), timestamps=False) or ""
        facts = preemption_facts(meta["name"], wl, p, self.workloads(), checkpoint_step(tail))
        self.w.send(kind, job, key, previous, None, facts)
        log.info("preempted %s %s/%s (%s)", kind.kind, self.w.namespace, meta["name"], key)
        return 1

    def check_wait(self, kind: WatchedKind, job: Job, wl: kueue.Workload) -> int:
        waited = waited_s(wl, job, self.clock())
        if waited is None or waited < self.wait_s:
            return 0
        meta, key = job["metadata"], wait_key(wl)
        previous = self.w.sent.claim(meta["uid"], kind.kind, key)
        if previous is False:
            return 0
        facts = wait_facts(
            meta["name"], self.w.namespace, wl, waited, self.wait_s, self.cluster_queue(wl)
        )
        self.w.send(kind, job, key, previous, None, facts)
        log.info("queue wait %s %s/%s (%s)", kind.kind, self.w.namespace, meta["name"], key)
        return 1

    def cluster_queue(self, wl: kueue.Workload) -> dict[str, Any] | None:
        """The ClusterQueue the Workload's LocalQueue feeds; None when it cannot be read."""
        from kubernetes.client.rest import ApiException

        if not kueue.local_queue(wl):
            return None
        try:
            lq = self.w.custom.get_namespaced_custom_object(
                kueue.GROUP,
                kueue.VERSION,
                self.w.namespace,
                kueue.LOCAL_QUEUES,
                kueue.local_queue(wl),
            )
            name = (lq.get("spec") or {}).get("clusterQueue")
            if not name:
                return None
            return self.w.custom.get_cluster_custom_object(
                kueue.GROUP, kueue.VERSION, kueue.CLUSTER_QUEUES, name
            )
        except ApiException as err:
            if err.status in (403, 404):
                return None
            raise
