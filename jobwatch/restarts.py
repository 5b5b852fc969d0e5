"""A job's restarts told as incidents of failed pods (incidents.py): each failed pod captured
when the watcher sees it fail, while it still exists (its status, node and own log), and one
message per incident, naming the first failed pod, its node and its cause. The same for a
PyTorchJob's pods, which the training operator recreates, and a RayJob's head and worker pods,
which KubeRay replaces (or whose container the kubelet restarts) while the RayJob stays Running.

Two ways in, which the record (sent.py, incidents.told) keeps from telling one incident twice:
- the pod stream (watcher.py follow_pods): a pod whose container ended non-zero, from a list, a
  MODIFIED or the DELETED event the operator's deletion produces (which still carries the final
  status; only the log is gone by then);
- the job's Restarting condition, or any listing of the job, for failures the stream did not
  show (the watcher was down or relisting): the failed pods still there, then the operator's
  events on the pods it deleted (kind.operator_exit: the training operator's ExitedWithCode,
  KubeRay's DeletedWorkerPod / DeletedHeadPod) with the scheduler's Scheduled events for uid
  and node.
A failure the operator does not retry (kind.retried: under ExitCode a code below 128) is no
restart: it is kept for the job's Failed message, which names it. A pod that is not the job's
running one (kind.counts: a Ray pod of a cluster KubeRay tears down) is neither.
"""

from __future__ import annotations

from typing import Any

from . import incidents
from .diagnose import classify
from .diagnose.inputs import regarding
from .incidents import FailedPod
from .kinds import Job, WatchedKind

KEEP_FAILURES = 20  # failed pods remembered per job, for its Failed message
KEEP_SEEN = 2000  # pod uids already handled (a failed pod shows in several events)
SAME_FAILURE_S = 120.0  # an event within this of a failure known by the pod's status is that one
SHOWN = 5  # failed pods named in a message


class Restarts:
    def __init__(self, watcher):
        self.w = watcher
        self.failures: dict[str, list[FailedPod]] = {}  # job uid -> failed pods, oldest first
        self._seen: dict[str, None] = {}  # insertion-ordered: the oldest is dropped first

    # ------------------------------------------------------------------------- the pod stream

    def pod_seen(self, kind: WatchedKind, pod: dict[str, Any], *, deleted: bool = False,
                 silent: bool = False) -> bool:  # fmt: skip
        """A pod of the kind's jobs as a list or watch event shows it; True if a message went."""
        failed = incidents.failed_pod(pod, kind.container)
        if failed is None or failed.id in self._seen:
            return False
        job = self.w.get_job(kind, kind.job_of_pod(pod))
        if job is None or not kind.counts(job, pod):
            return False
        self._seen[failed.id] = None
        while len(self._seen) > KEEP_SEEN:
            del self._seen[next(iter(self._seen))]
        if not deleted:  # read it now: the operator deletes a pod it recreates
            failed.log_tail = self._log(failed)
        self._keep(job, failed)
        if not kind.retried(job, failed.pod, failed.exit_code):
            return False
        return self.tell(kind, job, failed, silent=silent)

    def _log(self, failed: FailedPod) -> str:
        """The failed pod's own log tail, or ''. Logs are read by name, and the operator gives
        the replacement the same name: a log is kept only if the pod of that name is still the
        failed one after reading it. A container the kubelet has started again left its failed
        run's log as the previous one."""
        tail = self.w.read_log(failed.name, failed.container, previous=failed.restarted)
        return tail if tail and self.w.pod_uid(failed.name) == failed.uid else ""

    def _keep(self, job: Job, failed: FailedPod) -> None:
        known = self.failures.setdefault(job["metadata"]["uid"], [])
        known[:] = [f for f in known if f.id != failed.id] + [failed]
        known.sort(key=lambda f: f.at)
        del known[:-KEEP_FAILURES]

    def forget(self, job_uids: set[str]) -> None:
        """Drop what is kept for jobs of one kind that no longer exist."""
        for uid in set(self.failures) - job_uids:
            del self.failures[uid]

    # ------------------------------------------------------------------- from the job's status

    def from_job(self, kind: WatchedKind, job: Job, *, silent: bool = False) -> bool:
        """The job shows Restarting: tell every retried failure no incident covers yet."""
        _, pods, events = self.w.pods_and_events(kind, job)
        told = False
        for failed in self.failed_of(kind, job, pods, events):
            if kind.retried(job, failed.pod, failed.exit_code):
                told |= self.tell(kind, job, failed, events=events, silent=silent)
        return told

    def failed_of(self, kind: WatchedKind, job: Job, pods: list[dict[str, Any]],
                  events: list[dict[str, Any]]) -> list[FailedPod]:  # fmt: skip
        """Every failure known for the job, oldest first, each once: those captured, the failed
        pods still there (their log read now), then the operator's events for the others."""
        known = {f.id: f for f in self.failures.get(job["metadata"]["uid"], [])}
        for pod in pods:
            labels = (pod.get("metadata") or {}).get("labels") or {}
            if kind.pod_label not in labels or not kind.counts(job, pod):
                continue  # not a pod the kind follows (a RayJob's submitter), or not the job's
            failed = incidents.failed_pod(pod, kind.container)
            if failed is not None and failed.id not in known:
                failed.log_tail = self._log(failed)
                known[failed.id] = failed
        rebuilt = incidents.from_events(
            job, self.w.namespace, events, kind.container, kind.operator_exit, pods
        )
        for failed in rebuilt:
            same = [
                f for f in known.values()
                if f.id == failed.id
                or (f.name == failed.name and abs(f.at - failed.at) <= SAME_FAILURE_S)
            ]  # fmt: skip
            if not same:
                known[failed.id] = failed
        return sorted(known.values(), key=lambda f: f.at)

    # --------------------------------------------------------------------------------- telling

    def tell(self, kind: WatchedKind, job: Job, failed: FailedPod, *,
             events: list[dict[str, Any]] | None = None, silent: bool = False) -> bool:  # fmt: skip
        """One message for the incident `failed` opens, unless one already covers it."""
        meta = job["metadata"]
        key = incidents.key(failed)
        previous = self.w.sent.claim(
            meta["uid"], kind.kind, key, lambda keys: incidents.told(keys, failed)
        )
        if previous is False or silent:
            return False
        if events is None:
            events = self.w.events()
        mine = [e for e in events if _about(e, failed, meta["name"])]
        nodes, node_events = self.w.nodes_of([failed.pod])
        causes = classify(
            [failed.pod], mine + node_events, failed.log_tail, namespace=self.w.namespace,
            nodes=nodes,
        )  # fmt: skip
        facts = [
            "",
            f"Failed: {failed.describe()}.",
            f"Further failures of the job within {int(incidents.WINDOW_S // 60)} minutes are "
            "this incident's and are not sent again.",
        ]
        self.w.send(kind, job, key, previous, causes, facts)
        return True

    def for_failure(self, kind: WatchedKind, job: Job, pods: list[dict[str, Any]],
                    events: list[dict[str, Any]]) -> tuple[list[FailedPod], list[str]]:  # fmt: skip
        """For the job's Failed message: its latest failures, newest first (the one that ended
        it leads), and the lines naming them. When the job says when it ended (kind.ended_at),
        only failures of the WINDOW_S before: a RayJob's driver can fail long after the pod
        failures KubeRay recovered from, which did not end it."""
        failed = self.failed_of(kind, job, pods, events)
        if not failed:
            return [], []
        ended, window = incidents.epoch(kind.ended_at(job)), incidents.WINDOW_S
        if ended:  # a failure's time and the job's end come from different clocks: some slack
            recent = [f for f in failed if -SAME_FAILURE_S <= ended - f.at <= window]
        else:
            recent = [f for f in failed if failed[-1].at - f.at <= window]
        recent = recent[::-1][:SHOWN]
        if not recent:
            return [], []
        return recent, ["", *(f"Failed: {f.describe()}." for f in recent)]


def _about(event: dict[str, Any], failed: FailedPod, job: str) -> bool:
    """An event about the failed pod itself (not its replacement of the same name), or the job."""
    obj = regarding(event)
    if obj.get("name") == job:
        return True
    if obj.get("name") != failed.name:
        return False
    return failed.uid.startswith("name:") or obj.get("uid") in (None, "", failed.uid)
