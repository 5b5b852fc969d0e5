"""A PyTorchJob's state as the Kubeflow training operator writes it, and where its pods are: pure
functions over the job as the API returns it (a dict). The watcher reads them to decide what to
notify; `trainstack status` and `logs` (trainstack/ops/pytorchjob.py) draw the same state. Stdlib
only, so the trainer image can run it.
"""

from __future__ import annotations

import re
from typing import Any

GROUP, VERSION, PLURAL = "kubeflow.org", "v1", "pytorchjobs"
CONTAINER = "pytorch"  # the training operator requires this container name
JOB_LABEL = "training.kubeflow.org/job-name"
TYPE_LABEL = "training.kubeflow.org/replica-type"
INDEX_LABEL = "training.kubeflow.org/replica-index"


def is_elastic(job: dict[str, Any]) -> bool:
    specs = job.get("spec", {}).get("pytorchReplicaSpecs", {})
    return "Master" not in specs


def log_pod_name(job: dict[str, Any]) -> str:
    """Rank 0's pod: the master, or worker 0 of an elastic job (which has no master).
    torch's c10d rendezvous numbers nodes in the sorted order of their hostnames (the pod names),
    so `<job>-master-0` sorts first, and `<job>-worker-0` first among workers."""
    name = job["metadata"]["name"]
    return f"{name}-worker-0" if is_elastic(job) else f"{name}-master-0"


def names_pod(job: dict[str, Any], pod: str) -> bool:
    """Whether `pod` is named as the operator names the job's pods (kubeflow/trainer v1.9.3
    common/util.go GenGeneralName: `<job>-<type in lower case>-<index>`), also once deleted."""
    own = re.compile(rf"{re.escape(job['metadata']['name'])}-(master|worker)-\d+")
    return own.fullmatch(pod) is not None


def job_of_pod(pod: dict[str, Any]) -> str:
    return str(((pod.get("metadata") or {}).get("labels") or {}).get(JOB_LABEL) or "")


# kubeflow/trainer v1.9.3 pkg/controller.v1/common/pod.go: exitedWithCodeReason and its message.
EXITED_REASON = "ExitedWithCode"
EXITED_RE = re.compile(r"^Pod: (?P<ns>[^.\s]+)\.(?P<pod>\S+) exited with code (?P<code>-?\d+)$")


def exited(job: dict[str, Any], namespace: str, event: dict[str, Any]) -> tuple | None:
    """(pod, exit code, reason) of the operator's ExitedWithCode event on the job, recorded
    before it deletes a pod it recreates; None for any other event."""
    about = event.get("involvedObject") or event.get("regarding") or {}
    m = EXITED_RE.match(str(event.get("message") or event.get("note") or "").strip())
    if event.get("reason") != EXITED_REASON or about.get("name") != job["metadata"]["name"]:
        return None
    if not m or m.group("ns") != namespace:
        return None
    return m.group("pod"), int(m.group("code")), "Error"


def conditions(job: dict[str, Any]) -> list[dict[str, Any]]:
    """Latest first. The operator appends conditions; the timestamps order them."""
    conds = list(job.get("status", {}).get("conditions") or [])

    # Timestamps have one-second resolution: on a tie the later-appended condition is newer.
    def when(item: tuple[int, dict[str, Any]]) -> tuple[str, int]:
        index, c = item
        return c.get("lastTransitionTime") or c.get("lastUpdateTime") or "", index

    return [c for _, c in sorted(enumerate(conds), key=when, reverse=True)]


def phase(job: dict[str, Any]) -> str:
    """The newest condition that holds (Created/Running/Restarting/Succeeded/Failed)."""
    for c in conditions(job):
        if c.get("status") == "True":
            return c.get("type", "Unknown")
    return "Pending"


def failed(job: dict[str, Any]) -> bool:
    return phase(job) == "Failed"


def finished(job: dict[str, Any]) -> bool:
    return phase(job) in ("Succeeded", "Failed")


def pod_selectors(job: dict[str, Any]) -> list[str]:
    return [f"{JOB_LABEL}={job['metadata']['name']}"]


def ended_at(job: dict[str, Any]) -> str:
    """When the job's Failed or Succeeded condition was set; '' while it runs."""
    if not finished(job):
        return ""
    c = conditions(job)[0]
    return str(c.get("lastTransitionTime") or c.get("lastUpdateTime") or "")


def retried(job: dict[str, Any], pod: dict[str, Any], code: int) -> bool:
    """Whether the operator recreates a pod of the job that exited `code` (kubeflow/trainer
    v1.9.3 pkg/controller.v1/common/pod.go ReconcilePods): under ExitCode when it is >= 128
    (pkg/util/train/train_util.go IsRetryableExitCode), under OnFailure and Always whatever it
    is, under Never not at all. The pod's replica-type label is the type in lower case."""
    rtype = ((pod.get("metadata") or {}).get("labels") or {}).get(TYPE_LABEL, "")
    specs = job.get("spec", {}).get("pytorchReplicaSpecs", {}) or {}
    spec = next((v for k, v in specs.items() if k.lower() == str(rtype).lower()), None) or {}
    policy = spec.get("restartPolicy") or "OnFailure"  # the v1 API's default for PyTorchJob
    if policy == "ExitCode":
        return code >= 128
    return policy in ("OnFailure", "Always")


def notice(job: dict[str, Any]) -> str | None:
    """What to tell the job's owner about, as a key that is the same for the same event however
    often it is read: `Succeeded`, `Failed`, or `Restarting` while it restarts, which the watcher
    resolves into incidents by the failed pods (incidents.py: the condition's own timestamps
    change on every status update); None while it is created or running."""
    now = phase(job)
    if now in ("Succeeded", "Failed", "Restarting"):
        return now
    return None
