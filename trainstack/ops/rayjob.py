"""A RayJob (`framework: ray`) as `trainstack status` and `logs` show it.

KubeRay runs a RayJob as a RayCluster (a head pod and the GPU worker group) plus a submitter: a
Kubernetes Job of the RayJob's name whose container runs `ray job submit` and tails the Ray job's
driver output. Ray forwards every Ray Train worker's stdout to the driver, prefixed
`(RayTrainWorker pid=..)`, so the submitter's log carries rank 0's step and checkpoint lines.
Pure functions over the RayJob dict and V1Pod models; jobs.py does the cluster access,
job_kinds.py lists this kind.
"""

from __future__ import annotations

from typing import Any

from jobwatch.rayjob import (
    GROUP,
    HEAD_GROUP,
    PLURAL,
    SUBMITTER_CONTAINER,
    VERSION,
    failed,
    final_message,
    finished,
    phase,
    pod_group,
    pod_selectors,
    related_names,
    status_of,
    submitter_pod,
)

from .job_kind import JobKind, LogSource
from .job_view import format_causes, format_progress, grouped_pod_lines


def _cluster_line(job: dict[str, Any]) -> str | None:
    st = status_of(job)
    name = st.get("rayClusterName")
    if not name:
        return None
    cluster = st.get("rayClusterStatus") or {}
    ready, wanted = cluster.get("readyWorkerReplicas"), cluster.get("desiredWorkerReplicas")
    workers = f", workers {ready or 0}/{wanted} ready" if wanted is not None else ""
    return f"RayCluster {name}: {cluster.get('state') or 'starting'}{workers}"


def waiting_reason(job: dict[str, Any]) -> str:
    """Why there is no submitter log yet, for `logs -f` while it waits."""
    if finished(job):
        return (
            f"the RayJob is {phase(job)} and its submitter pod is gone (removed after the "
            "job finished); `trainstack status` shows Ray's final message"
        )
    cluster = _cluster_line(job)
    return (
        f"the RayJob is {phase(job)}: KubeRay submits the Ray job once its RayCluster is "
        "ready (GPU nodes launching, image pulling)" + (f"; {cluster}" if cluster else "")
    )


def log_source(job: dict[str, Any], pods: list) -> LogSource:
    pod = submitter_pod(pods)
    return LogSource(
        pod,
        SUBMITTER_CONTAINER,
        waiting="" if pod else waiting_reason(job),
        awaited=f"the submitter of RayJob {job['metadata']['name']}",
    )


def format_status(job: dict[str, Any], pods: list, checkpoint, causes, progress) -> str:
    meta, st = job["metadata"], status_of(job)
    ray_state = f" (Ray job {st['jobStatus']})" if st.get("jobStatus") else ""
    lines = [f"RayJob {meta.get('namespace', '?')}/{meta['name']}: {phase(job)}{ray_state}"]
    lines += format_progress(progress, checkpoint)
    cluster = _cluster_line(job)
    if cluster:
        lines.append("  " + cluster)
    times = [
        f"{word} {st[key]}"
        for word, key in (("started", "startTime"), ("ended", "endTime"))
        if st.get(key)
    ]
    if times:
        lines.append("  " + ", ".join(times))
    if st.get("reason") or st.get("message"):
        reason = f"{st['reason']}: " if st.get("reason") else ""
        message = (st.get("message") or "").strip().splitlines()
        lines.append(f"  {reason}{message[0] if message else ''}".rstrip(": "))

    spec = job.get("spec", {}).get("rayClusterSpec", {})
    headers = {HEAD_GROUP: "head: 1 wanted"} | {
        g.get("groupName", "?"): f"workers {g.get('groupName', '?')}: {g.get('replicas', 1)} wanted"
        for g in spec.get("workerGroupSpecs") or []
    }
    lines.append("pods:")
    # The submitter has no group in the spec, so it comes last under its own name.
    lines += grouped_pod_lines(pods, headers, group_of=pod_group, order=lambda p: p.metadata.name)
    if not pods:
        lines.append(
            "  no pods (the RayCluster is not created yet, or was deleted after the job finished)"
        )
    lines += format_causes(causes, meta["name"], meta.get("namespace"))
    return "\n".join(lines)


KIND = JobKind(
    kind="RayJob",
    group=GROUP,
    version=VERSION,
    plural=PLURAL,
    phase=phase,
    failed=failed,
    finished=finished,
    pod_selectors=pod_selectors,
    log_source=log_source,
    log_reads_pods=True,  # the submitter pod appears, and is replaced on retry, while we wait
    format_status=format_status,
    final_message=final_message,
    related_names=related_names,
)
