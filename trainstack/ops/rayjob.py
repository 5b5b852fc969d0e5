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

from .job_kind import JobKind, LogSource
from .job_view import format_causes, format_progress, grouped_pod_lines

GROUP, VERSION, PLURAL = "ray.io", "v1", "rayjobs"
SUBMITTER_CONTAINER = "ray-job-submitter"  # KubeRay's default submitter pod template
CLUSTER_LABEL = "ray.io/cluster"
GROUP_LABEL = "ray.io/group"
HEAD_GROUP = "headgroup"  # the ray.io/group value KubeRay gives the head pod
# Kubernetes labels a Job's pods with its name; KubeRay names the submitter Job after the RayJob.
SUBMITTER_LABEL = "batch.kubernetes.io/job-name"

FAILED_DEPLOYMENTS = {"Failed", "ValidationFailed"}
FINISHED_DEPLOYMENTS = FAILED_DEPLOYMENTS | {"Complete"}


def _status(job: dict[str, Any]) -> dict[str, Any]:
    return job.get("status") or {}


def phase(job: dict[str, Any]) -> str:
    """KubeRay's jobDeploymentStatus (Initializing, Running, Complete, Failed, Retrying, ...)."""
    return _status(job).get("jobDeploymentStatus") or "Pending"


def failed(job: dict[str, Any]) -> bool:
    # Before KubeRay 1.1 a failed Ray job still ended as deployment "Complete"; jobStatus says.
    return phase(job) in FAILED_DEPLOYMENTS or _status(job).get("jobStatus") == "FAILED"


def finished(job: dict[str, Any]) -> bool:
    return phase(job) in FINISHED_DEPLOYMENTS


def pod_selectors(job: dict[str, Any]) -> list[str]:
    """The submitter's pods, and the RayCluster's once the operator has named it."""
    selectors = [f"{SUBMITTER_LABEL}={job['metadata']['name']}"]
    cluster = _status(job).get("rayClusterName")
    if cluster:
        selectors.append(f"{CLUSTER_LABEL}={cluster}")
    return selectors


def _group(pod) -> str:
    labels = pod.metadata.labels or {}
    if SUBMITTER_LABEL in labels and GROUP_LABEL not in labels:
        return "submitter"
    return labels.get(GROUP_LABEL, "?")


def submitter_pod(pods: list) -> str | None:
    """The newest submitter pod: the Job makes a new one on each retry (backoffLimit)."""
    mine = [p for p in pods if _group(p) == "submitter"]
    if not mine:
        return None
    newest = max(
        mine,
        key=lambda p: (
            p.metadata.creation_timestamp is not None,
            p.metadata.creation_timestamp or 0,
            p.metadata.name,
        ),
    )
    return newest.metadata.name


def _cluster_line(job: dict[str, Any]) -> str | None:
    st = _status(job)
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


def related_names(job: dict[str, Any]) -> set[str]:
    """The RayCluster: KubeRay's events about it (head pod, scaling) concern the job too."""
    cluster = _status(job).get("rayClusterName")
    return {cluster} if cluster else set()


def final_message(job: dict[str, Any]) -> str:
    """Ray's own account of the end, which quotes the driver's last output when it failed: the
    classifier reads it too, since the pods may be gone by the time anyone asks."""
    st = _status(job)
    return "\n".join(x for x in (st.get("reason"), st.get("message")) if x)


def format_status(job: dict[str, Any], pods: list, checkpoint, causes, progress) -> str:
    meta, st = job["metadata"], _status(job)
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
    lines += grouped_pod_lines(pods, headers, group_of=_group, order=lambda p: p.metadata.name)
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
