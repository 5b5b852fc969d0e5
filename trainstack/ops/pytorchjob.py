"""A PyTorchJob (Kubeflow training operator) as `trainstack status` and `logs` show it: its state
from the operator's conditions, its pods by replica type and index, rank 0's pod (the master, or
worker 0 of an elastic job). Pure functions over the job dict and V1Pod models; jobs.py does the
cluster access, job_kinds.py lists this kind.
"""

from __future__ import annotations

from typing import Any

from .job_kind import JobKind, LogSource
from .job_view import format_causes, format_progress, grouped_pod_lines

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


def _replica_key(pod) -> tuple[str, int]:
    labels = pod.metadata.labels or {}
    try:
        index = int(labels.get(INDEX_LABEL, "0"))
    except ValueError:
        index = 0
    return labels.get(TYPE_LABEL, "?").lower(), index


def failed(job: dict[str, Any]) -> bool:
    return phase(job) == "Failed"


def finished(job: dict[str, Any]) -> bool:
    return phase(job) in ("Succeeded", "Failed")


def pod_selectors(job: dict[str, Any]) -> list[str]:
    return [f"{JOB_LABEL}={job['metadata']['name']}"]


def log_source(job: dict[str, Any], pods: list) -> LogSource:
    return LogSource(log_pod_name(job), CONTAINER)


def format_status(
    job: dict[str, Any],
    pods: list,
    checkpoint: tuple[int, str | None] | None,
    causes: list | None = None,
    progress: dict[str, Any] | None = None,
) -> str:
    meta = job["metadata"]
    lines = [
        f"PyTorchJob {meta.get('namespace', '?')}/{meta['name']}: {phase(job)}"
        + ("  (elastic)" if is_elastic(job) else "")
    ]
    lines += format_progress(progress, checkpoint)

    lines.append("conditions (latest first):")
    for c in conditions(job) or [{"type": "-", "status": "", "message": "none yet"}]:
        when = c.get("lastTransitionTime") or c.get("lastUpdateTime") or ""
        reason = f" {c['reason']}" if c.get("reason") else ""
        lines.append(
            f"  {when:<20} {c.get('type', '?')}={c.get('status', '?')}{reason}: "
            f"{c.get('message', '')}".rstrip(": ")
        )

    specs = job.get("spec", {}).get("pytorchReplicaSpecs", {})
    states = job.get("status", {}).get("replicaStatuses") or {}
    headers = {}
    for rtype, spec in specs.items():
        counts = states.get(rtype, {})
        summary = ", ".join(
            f"{k} {counts[k]}" for k in ("active", "succeeded", "failed") if counts.get(k)
        )
        headers[rtype.lower()] = f"{rtype}: {spec.get('replicas', 1)} wanted" + (
            f" ({summary})" if summary else ""
        )
    lines.append("replicas:")
    lines += grouped_pod_lines(
        pods, headers, group_of=lambda p: _replica_key(p)[0], order=_replica_key
    )
    if not pods:
        lines.append("  no pods (not created yet, or removed by cleanPodPolicy)")

    lines += format_causes(causes, meta["name"], meta.get("namespace"))
    return "\n".join(lines)


KIND = JobKind(
    kind="PyTorchJob",
    group=GROUP,
    version=VERSION,
    plural=PLURAL,
    phase=phase,
    failed=failed,
    finished=finished,
    pod_selectors=pod_selectors,
    log_source=log_source,
    log_reads_pods=False,  # the pod's name follows from the job's
    format_status=format_status,
)
