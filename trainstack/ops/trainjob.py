"""A TrainJob (`framework: trainjob`, Kubeflow Trainer v2) as `trainstack status` and `logs` show
it: its state from the Trainer's conditions, its Jobs' counts per replicated job, its pods by
replicated job and node index, rank 0's pod (node 0, the newest if its Job recreated it). Pure
functions over the TrainJob dict and V1Pod models; jobs.py does the cluster access, job_kinds.py
lists this kind.
"""

from __future__ import annotations

from typing import Any

from jobwatch.trainjob import (
    CONTAINER,
    GROUP,
    PLURAL,
    REPLICATED_JOB_LABEL,
    VERSION,
    conditions,
    failed,
    final_message,
    finished,
    jobs_status,
    log_pod,
    node_index,
    phase,
    pod_selectors,
)

from .job_kind import JobKind, LogSource
from .job_view import format_causes, format_progress, grouped_pod_lines

COUNTS = ("active", "ready", "succeeded", "failed", "suspended")


def _replicated_job(pod) -> str:
    return (pod.metadata.labels or {}).get(REPLICATED_JOB_LABEL, "?")


def _order(pod) -> tuple[str, int, str]:
    labels = pod.metadata.labels or {}
    return _replicated_job(pod), node_index(labels), pod.metadata.name


def waiting_reason(job: dict[str, Any]) -> str:
    """Why rank 0 has no pod to read yet, for `logs -f` while it waits."""
    if finished(job):
        return f"the TrainJob is {phase(job)} and node 0's pod is gone"
    return (
        f"the TrainJob is {phase(job)}: the Trainer creates its JobSet once it is not "
        "suspended (by Kueue's admission or `suspend: false`), then GPU nodes launch"
    )


def log_source(job: dict[str, Any], pods: list) -> LogSource:
    pod = log_pod(pods)
    return LogSource(
        pod,
        CONTAINER,
        waiting="" if pod else waiting_reason(job),
        awaited=f"node 0 of TrainJob {job['metadata']['name']}",
    )


def format_status(job: dict[str, Any], pods: list, checkpoint, causes, progress) -> str:
    meta = job["metadata"]
    lines = [f"TrainJob {meta.get('namespace', '?')}/{meta['name']}: {phase(job)}"]
    lines += format_progress(progress, checkpoint)
    lines.append("conditions (latest first):")
    for c in conditions(job) or [{"type": "-", "status": "", "message": "none yet"}]:
        reason = f" {c['reason']}" if c.get("reason") else ""
        lines.append(
            f"  {c.get('lastTransitionTime') or '':<20} {c.get('type', '?')}="
            f"{c.get('status', '?')}{reason}: {c.get('message', '')}".rstrip(": ")
        )
    nodes = (job.get("spec", {}).get("trainer") or {}).get("numNodes", 1)
    headers = {}
    for s in jobs_status(job) or [{"name": "node"}]:
        counts = ", ".join(f"{k} {s[k]}" for k in COUNTS if s.get(k))
        wanted = f": {nodes} wanted" if s.get("name") == "node" else ""
        headers[s.get("name", "?")] = f"{s.get('name', '?')}{wanted}" + (
            f" ({counts})" if counts else ""
        )
    lines.append("replicated jobs:")
    lines += grouped_pod_lines(pods, headers, group_of=_replicated_job, order=_order)
    if not pods:
        lines.append("  no pods (suspended, not created yet, or removed after the job finished)")
    lines += format_causes(causes, meta["name"], meta.get("namespace"))
    return "\n".join(lines)


KIND = JobKind(
    kind="TrainJob",
    group=GROUP,
    version=VERSION,
    plural=PLURAL,
    phase=phase,
    failed=failed,
    finished=finished,
    pod_selectors=pod_selectors,
    log_source=log_source,
    log_reads_pods=True,  # node 0's pod has a random suffix, and a new one on each recreation
    format_status=format_status,
    final_message=final_message,
)
