"""A job's pod failures as incidents: what a failed pod was (uid, node, exit code, its own log),
taken from the pod itself while it exists or from the events the operator and the scheduler
leave once it is gone, and how failures group into one incident. Pure functions over the API's
JSON; stdlib only, like the rest of jobwatch's logic.

Why pods and not the job's conditions (kubeflow/trainer v1.9.3, pkg/controller.v1/common/
pod.go ReconcilePods): for a retryable exit the operator records an `ExitedWithCode` event
("Pod: <ns>.<pod> exited with code <N>") on the job, DELETES the failed pod, sets the job's
Restarting condition and then creates a replacement of the same name. So by the time a watcher
sees Restarting the failed pod, its status and its log are gone, and the pod of that name is the
new, healthy one (restartPolicy Never: it has no previous container). And the condition says
little about the incident: pkg/util/status.go setCondition gives Running and Restarting a new
lastTransitionTime each time they replace each other, and a peer that dies of the first pod's
failure minutes later (its NCCL watchdog) makes another Restarting.

KubeRay v1.7.0 (ray-operator/controllers/ray/raycluster_controller.go reconcilePods,
shouldDeletePod) does the same to a RayJob's cluster: a head or worker pod that is Failed, or
whose Ray container (the pod's first) ended under restartPolicy Never, is deleted (event
DeletedHeadPod / DeletedWorkerPod on the RayCluster) and a new pod of a new generated name is
created in a later reconcile, while the RayJob's status stays Running. Under the default
restartPolicy Always the kubelet restarts the container in the same pod instead: that failure
is the container's last state, and the pod (same uid) can fail again later, so such a failure
is told apart by when it ended too (FailedPod.id).

So an incident is keyed on its first failed pod's uid and the time it failed, and every failure
within WINDOW_S of it belongs to it: one message per incident, however many pods and status
updates it takes. The key is kept in the watcher's record (sent.py), so a restarted watcher folds
a late failure into the incident already told, too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .diagnose.inputs import regarding

# Longer than the trainer's default process-group timeout (600 s): the peers of a dead rank fail
# when their collectives time out, and that is still the same incident.
WINDOW_S = 900.0
KEEP_KEYS = 20  # incident keys kept per job in the record: the window only needs the newest
PREFIX = "Restarting#"
NO_EXIT_CODE = 0xBEEF  # v1.9.3 common/pod.go: the exit code it assumes when no container ended
# kube-scheduler's Scheduled event (pkg/scheduler/schedule_one.go): "Successfully assigned
# <ns>/<pod> to <node>".
SCHEDULED_RE = re.compile(r"Successfully assigned (?P<ns>[^/\s]+)/(?P<pod>\S+) to (?P<node>\S+)")


@dataclass
class FailedPod:
    uid: str  # the pod's uid; `name:<pod>` when no event kept it
    name: str
    node: str  # spec.nodeName, '' when unknown
    exit_code: int
    at: float  # when it failed (epoch seconds): terminated.finishedAt, else the event's time
    pod: dict[str, Any]  # the pod as the classifier reads it (a reconstruction from events)
    log_tail: str = ""
    from_events: bool = False
    reason: str = ""  # terminated.reason (OOMKilled, Error, ...)
    container: str = ""  # the container whose exit counts, whose log is read
    # The kubelet restarts the container in the same pod (restartPolicy Always or OnFailure):
    # the pod lives on and the failed run's log is its previous one once it runs again.
    in_place: bool = False
    restarted: bool = False  # read from lastState: the container runs again already

    @property
    def id(self) -> str:
        """This failure among the job's: the pod's uid, and for a container restarted in place
        also when that run ended (the same pod fails again as a new failure)."""
        return f"{self.uid}~{int(self.at)}" if self.in_place else self.uid

    def describe(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        where = f" on node {self.node}" if self.node else " (node unknown)"
        when = datetime.fromtimestamp(self.at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        ended = "failed" if self.exit_code == NO_EXIT_CODE else f"exited with code {self.exit_code}"
        text = f"pod {self.name}{where} {ended}{why}"
        text += f" at {when}" if self.at else ""
        if self.in_place:
            text += "; the kubelet restarted its container in the same pod"
        if self.from_events:
            text += "; the pod was already deleted, so this comes from the operator's events"
        return text


def epoch(stamp: str | None) -> float:
    """An API timestamp (RFC 3339, `Z` or an offset, maybe fractional) as epoch seconds; 0.0 if
    there is none."""
    if not stamp:
        return 0.0
    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()


def container_of(pod: dict[str, Any], container: str) -> str:
    """`container`, or when it is '' the pod's first container: KubeRay's Ray container
    (v1.7.0 utils/constant.go RayContainerIndex = 0), whatever the template names it."""
    if container:
        return container
    first = ((pod.get("spec") or {}).get("containers") or [{}])[0]
    return str(first.get("name") or "")


def failed_pod(pod: dict[str, Any], container: str) -> FailedPod | None:
    """The pod's failure if its `container` ('' for the first) ended with a non-zero code, or
    the pod is Failed without one (evicted, its node lost), else None. In a pod that is not
    Failed and restarts its containers, the container's last state counts too: the kubelet has
    already started it again."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    container = container_of(pod, container)
    cs = next((c for c in status.get("containerStatuses") or [] if c.get("name") == container), {})
    failed = status.get("phase") == "Failed"
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"  # the API's default
    in_place = not failed and policy in ("Always", "OnFailure")
    term = (cs.get("state") or {}).get("terminated") or {}
    restarted = False
    if not term and in_place:
        term = (cs.get("lastState") or {}).get("terminated") or {}
        restarted = bool(term)
    code = term.get("exitCode")
    if code == 0 or (code is None and not failed):
        return None
    return FailedPod(
        uid=str(meta.get("uid") or f"name:{meta.get('name')}"),
        name=str(meta.get("name") or ""),
        node=str((pod.get("spec") or {}).get("nodeName") or ""),
        # No code: the operator reads its magic 0xbeef, which IsRetryableExitCode retries.
        exit_code=NO_EXIT_CODE if code is None else int(code),
        # No finish time (an eviction): now, so the window still groups what follows.
        at=epoch(term.get("finishedAt")) or time.time(),
        pod=pod,
        reason=str(term.get("reason") or status.get("reason") or _disrupted(status)),
        container=container,
        in_place=in_place,
        restarted=restarted,
    )


def _disrupted(status: dict[str, Any]) -> str:
    """Why the API server took the pod away, when it did (its DisruptionTarget condition's
    reason: DeletionByPodGC once its node was deleted, DeletionByTaintManager, ...), else ''."""
    return next(
        (
            str(c.get("reason") or "")
            for c in status.get("conditions") or []
            if c.get("type") == "DisruptionTarget" and str(c.get("status")) == "True"
        ),
        "",
    )


def _event_time(e: dict[str, Any]) -> float:
    series = e.get("series") or {}
    return epoch(
        e.get("lastTimestamp")
        or series.get("lastObservedTime")
        or e.get("eventTime")
        or e.get("firstTimestamp")
        or (e.get("metadata") or {}).get("creationTimestamp")
    )


# A failed pod as an operator's event tells it: (pod name, exit code or None, reason); None for
# any other event. `read(job, namespace, event)`: pytorchjob.exited, rayjob.deleted.
OperatorExit = tuple[str, int | None, str]
ExitReader = Callable[[dict[str, Any], str, dict[str, Any]], OperatorExit | None]


def from_events(
    job: dict[str, Any],
    namespace: str,
    events: list[dict[str, Any]],
    container: str,
    read: ExitReader,
    pods: list[dict[str, Any]] | None = None,
) -> list[FailedPod]:
    """The failures the operator's events about the job report (`read`), oldest first: the
    pod, its code and when; its uid and node from the scheduler's Scheduled event of that pod
    before then. `pods`: the job's current pods, whose spec and labels a deleted pod of the same
    name, or of the same name but for its generated suffix, had too (a replacement runs the
    same template), so the classifier knows what the container ran."""
    siblings: dict[str, dict[str, Any]] = {}
    for p in pods or []:
        name = str((p.get("metadata") or {}).get("name") or "")
        siblings[name] = p
        siblings.setdefault(name.rpartition("-")[0], p)
    scheduled: dict[str, list[tuple[float, str, str]]] = {}
    for e in events:
        m = SCHEDULED_RE.search(str(e.get("message") or e.get("note") or ""))
        if e.get("reason") == "Scheduled" and m and m.group("ns") == namespace:
            uid = str(regarding(e).get("uid") or "")
            scheduled.setdefault(m.group("pod"), []).append((_event_time(e), uid, m.group("node")))
    found = []
    for e in events:
        told = read(job, namespace, e)
        if told is None or told[1] == 0:
            continue
        (name, code, reason), at = told, _event_time(e)
        before = [s for s in scheduled.get(name, []) if s[0] <= at] or scheduled.get(name, [])
        _, uid, node = max(before) if before else (0.0, "", "")
        sibling = siblings.get(name) or siblings.get(name.rpartition("-")[0]) or {}
        spec = dict(sibling.get("spec") or {})
        spec["nodeName"] = node
        labels = (sibling.get("metadata") or {}).get("labels") or {}
        term = {"exitCode": code, "reason": reason} if code is not None else {}
        # No pod of its template left (its cluster deleted): no container name to give.
        name_of = container_of({"spec": spec}, container) or "unknown"
        pod = {
            "metadata": {"name": name, "namespace": namespace, "uid": uid, "labels": labels},
            "spec": spec,
            "status": {
                "phase": "Failed",
                "containerStatuses": [{"name": name_of, "state": {"terminated": term}}],
            },
        }
        code = NO_EXIT_CODE if code is None else code
        failed = FailedPod(uid or f"name:{name}", name, node, code, at, pod, from_events=True)
        failed.container, failed.reason = name_of, reason
        found.append(failed)
    return sorted(found, key=lambda f: f.at)


def key(failed: FailedPod) -> str:
    """The record's key for the incident that `failed` opens."""
    return f"{PREFIX}{failed.id}@{int(failed.at)}"


def parse(k: str) -> tuple[str, float] | None:
    if not k.startswith(PREFIX) or "@" not in k:
        return None
    uid, _, at = k[len(PREFIX) :].rpartition("@")
    return (uid, float(at)) if at.lstrip("-").isdigit() else None


def told(keys: list[str], failed: FailedPod, window: float = WINDOW_S) -> bool:
    """Whether an incident already recorded covers `failed`: the same failure (FailedPod.id), or
    a failure of the job within `window` of that incident's first one."""
    for k in keys:
        known = parse(k)
        if known and (known[0] == failed.id or abs(failed.at - known[1]) <= window):
            return True
    return False


def trimmed(keys: list[str]) -> list[str]:
    """The keys with only the newest KEEP_KEYS incidents: the record stays small."""
    incidents = [k for k in keys if parse(k)]
    old = set(sorted(incidents, key=lambda k: parse(k)[1])[:-KEEP_KEYS]) if incidents else set()
    return [k for k in keys if k not in old]
