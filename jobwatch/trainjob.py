"""A TrainJob's state as Kubeflow Trainer v2 writes it, and where its pods are: pure functions
over the TrainJob as the API returns it (a dict). The watcher reads them to decide what to
notify; `trainstack status` and `logs` (trainstack/ops/trainjob.py) draw the same state. Stdlib
only, so the trainer image can run it.

The Trainer runs a TrainJob as a JobSet of its name (kubeflow/trainer v2.2.1
pkg/runtime/framework/plugins/jobset): one Job per replicated job of the runtime, here `node`,
named `<trainjob>-node-0`, whose indexed pods (`<trainjob>-node-0-<index>-<5 random>`) are the
nodes, index 0 first. JobSet v0.11.0 labels them (api/jobset/v1alpha2/jobset_types.go) and the
Job controller gives each its completion index, which the Trainer makes the node rank.
"""

from __future__ import annotations

import re
from typing import Any

from . import pod_order

GROUP, VERSION, PLURAL = "trainer.kubeflow.org", "v1alpha1", "trainjobs"
CONTAINER = "node"  # the trainer container's name the Trainer requires (constants.Node)
REPLICATED_JOB = "node"  # the runtime's replicated job of the trainer (components/trainjob.py)
JOBSET_LABEL = "jobset.sigs.k8s.io/jobset-name"  # the JobSet's name: the TrainJob's
REPLICATED_JOB_LABEL = "jobset.sigs.k8s.io/replicatedjob-name"
INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
# The exit codes on which the stack's runtime fails the TrainJob at once (its Job's
# podFailurePolicy FailJob, components/trainjob.py); the pod is recreated on any other. The same
# line as a PyTorchJob's restartPolicy ExitCode (jobwatch/pytorchjob.py retried).
PERMANENT_EXIT_CODES = range(1, 128)

# The condition types of pkg/apis/trainer/v1alpha1/trainjob_types.go at v2.2.1: Complete and
# Failed are the JobSet's Completed and Failed copied over (plugins/jobset Status); Suspended
# (reasons Suspended/Resumed) follows spec.suspend. There is no Running or Created condition:
# a job that is neither is running when its Jobs have pods, else starting.
COMPLETE, FAILED, SUSPENDED = "Complete", "Failed", "Suspended"


def conditions(job: dict[str, Any]) -> list[dict[str, Any]]:
    """Latest first (metav1.Condition: lastTransitionTime; a tie keeps the later-listed)."""
    conds = list(job.get("status", {}).get("conditions") or [])
    ordered = sorted(
        enumerate(conds), key=lambda ic: (ic[1].get("lastTransitionTime") or "", ic[0])
    )
    return [c for _, c in reversed(ordered)]


def _holds(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next(
        (c for c in conditions(job) if c.get("type") == kind and c.get("status") == "True"), None
    )


def jobs_status(job: dict[str, Any]) -> list[dict[str, Any]]:
    """status.jobsStatus: per replicated job, its Jobs' ready/succeeded/failed/active/suspended."""
    return list(job.get("status", {}).get("jobsStatus") or [])


def phase(job: dict[str, Any]) -> str:
    """Failed, Complete, Suspended, Running (a replicated job has active pods) or Pending."""
    for kind in (FAILED, COMPLETE, SUSPENDED):
        if _holds(job, kind):
            return kind
    if any((s.get("active") or 0) > 0 for s in jobs_status(job)):
        return "Running"
    return "Pending"


def failed(job: dict[str, Any]) -> bool:
    return phase(job) == FAILED


def finished(job: dict[str, Any]) -> bool:
    return phase(job) in (COMPLETE, FAILED)


def pod_selectors(job: dict[str, Any]) -> list[str]:
    return [f"{JOBSET_LABEL}={job['metadata']['name']}"]


def job_of_pod(pod: dict[str, Any]) -> str:
    return str(((pod.get("metadata") or {}).get("labels") or {}).get(JOBSET_LABEL) or "")


def node_index(labels: dict[str, str]) -> int:
    try:
        return int(labels.get(INDEX_LABEL, ""))
    except ValueError:
        return -1


def names_pod(job: dict[str, Any], pod: str) -> bool:
    """Whether `pod` is named as the Job controller names the trainer's pods (an indexed Job's
    `<job>-<index>-<5 random>`, the Job `<jobset>-<replicated job>-<job index>`), also once
    deleted."""
    own = re.compile(
        rf"{re.escape(job['metadata']['name'])}-{REPLICATED_JOB}-\d+-\d+-[a-z0-9]{{5}}"
    )
    return own.fullmatch(pod) is not None


def retried(job: dict[str, Any], pod: dict[str, Any], code: int) -> bool:
    """Whether the pod's Job recreates a pod that exited `code`: not for the codes its
    podFailurePolicy fails the job on."""
    return code not in PERMANENT_EXIT_CODES


def ended_at(job: dict[str, Any]) -> str:
    """When the Complete or Failed condition was set; '' while the job runs."""
    for kind in (FAILED, COMPLETE):
        c = _holds(job, kind)
        if c:
            return str(c.get("lastTransitionTime") or "")
    return ""


def final_message(job: dict[str, Any]) -> str:
    """The Failed condition's own words: a deadline (DeadlineExceeded), a runtime the Trainer
    does not know, or JobSet's "jobset failed due to one or more job failures"."""
    c = _holds(job, FAILED)
    return ": ".join(x for x in (c.get("reason"), c.get("message")) if x) if c else ""


def log_pod(pods: list) -> str | None:
    """Rank 0's pod: node index 0 of the trainer's replicated job, the newest if the Job has
    recreated it. torch's c10d rendezvous ranks nodes in the sorted order of their hostnames'
    FQDNs (elastic/rendezvous/dynamic_rendezvous.py), and `<trainjob>-node-0-0` sorts first."""
    mine = [
        p
        for p in pods
        if (p.metadata.labels or {}).get(REPLICATED_JOB_LABEL) == REPLICATED_JOB
        and node_index(p.metadata.labels or {}) == 0
    ]
    return pod_order.newest_name(mine)


def notice(job: dict[str, Any]) -> str | None:
    """`Succeeded` (Complete), `Failed`, or None: a pod the Job recreates is told as a restart
    by the pod stream (restarts.py), as a PyTorchJob's is."""
    if failed(job):
        return "Failed"
    if finished(job):
        return "Succeeded"
    return None
