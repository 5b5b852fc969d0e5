"""A PyTorchJob (Kubeflow training operator) as `trainstack status` and `logs` show it: its state
from the operator's conditions, its pods by replica type and index, rank 0's pod (the master, or
worker 0 of an elastic job). Pure functions over the job dict and V1Pod models; jobs.py does the
cluster access, job_kinds.py lists this kind.
"""

from __future__ import annotations

from typing import Any

from jobwatch.pytorchjob import (
    CONTAINER,
    GROUP,
    INDEX_LABEL,
    JOB_LABEL,
    PLURAL,
    TYPE_LABEL,
    VERSION,
    conditions,
    failed,
    finished,
    is_elastic,
    log_pod_name,
    phase,
    pod_selectors,
)

from .job_kind import JobKind, LogSource
from .job_view import format_causes, format_progress, grouped_pod_lines

# The state and where the pods are come from the watcher's package (jobwatch/pytorchjob.py), so
# notifications and `status` read a job alike; re-exported for the tests and rayjob's peers.
__all__ = ["JOB_LABEL", "KIND", "conditions", "log_pod_name"]


def _replica_key(pod) -> tuple[str, int]:
    labels = pod.metadata.labels or {}
    try:
        index = int(labels.get(INDEX_LABEL, "0"))
    except ValueError:
        index = 0
    return labels.get(TYPE_LABEL, "?").lower(), index


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
