"""A RayJob's state as KubeRay writes it, and which pods are its own: pure functions over the
RayJob as the API returns it (a dict) and pod models. KubeRay runs a RayJob as a RayCluster plus a
submitter Job of the RayJob's name, whose log carries the driver's output. The watcher reads them
to decide what to notify; `trainstack status` and `logs` (trainstack/ops/rayjob.py) draw the same
state. Stdlib only, so the trainer image can run it.
"""

from __future__ import annotations

import re
from typing import Any

from . import pod_order

GROUP, VERSION, PLURAL = "ray.io", "v1", "rayjobs"
SUBMITTER_CONTAINER = "ray-job-submitter"  # KubeRay's default submitter pod template
CLUSTER_LABEL = "ray.io/cluster"
GROUP_LABEL = "ray.io/group"
HEAD_GROUP = "headgroup"  # the ray.io/group value KubeRay gives the head pod
# Kubernetes labels a Job's pods with its name; KubeRay names the submitter Job after the RayJob.
SUBMITTER_LABEL = "batch.kubernetes.io/job-name"

NODE_TYPE_LABEL = "ray.io/node-type"  # head or worker (common/pod.go labelPod)
# The deployment states in which the RayJob's cluster is up or coming up, which KubeRay keeps
# whole: it replaces a failed head or worker pod (raycluster_controller.go reconcilePods) and the
# RayJob stays as it is. In the others it deletes the cluster (Retrying, Suspending, and Complete
# or Failed with shutdownAfterJobFinishes), and its pods end because they are deleted.
LIVE_DEPLOYMENTS = {"Initializing", "Waiting", "Running"}

FAILED_DEPLOYMENTS = {"Failed", "ValidationFailed"}
FINISHED_DEPLOYMENTS = FAILED_DEPLOYMENTS | {"Complete"}


def status_of(job: dict[str, Any]) -> dict[str, Any]:
    return job.get("status") or {}


def phase(job: dict[str, Any]) -> str:
    """KubeRay's jobDeploymentStatus (Initializing, Running, Complete, Failed, Retrying, ...)."""
    return status_of(job).get("jobDeploymentStatus") or "Pending"


def failed(job: dict[str, Any]) -> bool:
    # Before KubeRay 1.1 a failed Ray job still ended as deployment "Complete"; jobStatus says.
    return phase(job) in FAILED_DEPLOYMENTS or status_of(job).get("jobStatus") == "FAILED"


def finished(job: dict[str, Any]) -> bool:
    return phase(job) in FINISHED_DEPLOYMENTS


def pod_selectors(job: dict[str, Any]) -> list[str]:
    """The submitter's pods, and the RayCluster's once the operator has named it."""
    selectors = [f"{SUBMITTER_LABEL}={job['metadata']['name']}"]
    cluster = status_of(job).get("rayClusterName")
    if cluster:
        selectors.append(f"{CLUSTER_LABEL}={cluster}")
    return selectors


def pod_group(pod) -> str:
    labels = pod.metadata.labels or {}
    if SUBMITTER_LABEL in labels and GROUP_LABEL not in labels:
        return "submitter"
    return labels.get(GROUP_LABEL, "?")


def submitter_pod(pods: list) -> str | None:
    """The newest submitter pod: the Job makes a new one on each retry (backoffLimit)."""
    mine = [p for p in pods if pod_group(p) == "submitter"]
    return pod_order.newest_name(mine)


def pod_cluster(pod: dict[str, Any]) -> str:
    return str(((pod.get("metadata") or {}).get("labels") or {}).get(CLUSTER_LABEL) or "")


def job_of_pod(pod: dict[str, Any]) -> str:
    """The RayJob a head or worker pod runs for, by its cluster's name: KubeRay v1.7.0 names a
    RayJob's cluster `<rayjob>-<5 random>` (utils/util.go GenerateRayClusterName) and labels its
    pods with it (common/pod.go labelPod). runs_on checks the guess against the RayJob."""
    return pod_cluster(pod).rpartition("-")[0]


def runs_on(job: dict[str, Any], pod: dict[str, Any]) -> bool:
    """Whether the RayJob runs on the pod's cluster now, so a failed pod of it is replaced (or
    its container restarted) while the job goes on: a restart to tell. A pod of a cluster the
    job has left, or is tearing down, ends because it was deleted."""
    cluster = status_of(job).get("rayClusterName")
    return bool(cluster) and pod_cluster(pod) == cluster and phase(job) in LIVE_DEPLOYMENTS


def retried(job: dict[str, Any], pod: dict[str, Any], code: int) -> bool:
    """KubeRay replaces a failed Ray pod whatever its code (shouldDeletePod looks at the phase
    and restartPolicy only), and the kubelet restarts a container under Always."""
    return runs_on(job, pod)


def names_pod(job: dict[str, Any], pod: str) -> bool:
    """Whether `pod` is named as KubeRay names the cluster's pods, also once deleted:
    `<cluster>-head-<5>` and `<cluster>-<group>-worker-<5>` (common/pod.go, generateName)."""
    cluster = status_of(job).get("rayClusterName")
    return bool(cluster) and pod.startswith(f"{cluster}-")


# KubeRay v1.7.0 raycluster_controller.go reconcilePods: the events it records on the RayCluster
# as it deletes a failed head or worker pod, "Deleted worker Pod <ns>/<pod>; Pod status: <phase>;
# Pod restart policy: <policy>; Ray container terminated status: <the terminated state, %v>".
DELETED_REASONS = {"DeletedHeadPod", "DeletedWorkerPod"}
DELETED_RE = re.compile(
    r"^Deleted (?:head|worker) Pod (?P<ns>[^/\s]+)/(?P<pod>\S+); Pod status: (?P<phase>\w*);"
    r".*Ray container terminated status: (?P<term>.*)$"
)
# Go's %v of a *ContainerStateTerminated prints its fields by name (`ExitCode:137,...`), of a
# nil one `nil` (the pod failed without its container ending: evicted, node lost).
EXIT_CODE_RE = re.compile(r"\bExitCode:(?P<code>-?\d+)")
REASON_RE = re.compile(r"\bReason:(?P<reason>[^,}\s]*)")


def deleted(job: dict[str, Any], namespace: str, event: dict[str, Any]) -> tuple | None:
    """(pod, exit code or None, reason) of a failed pod of the job's cluster that KubeRay
    deleted, from its event on the RayCluster; None for any other event."""
    about = event.get("involvedObject") or event.get("regarding") or {}
    cluster = status_of(job).get("rayClusterName")
    m = DELETED_RE.match(str(event.get("message") or event.get("note") or "").strip())
    if event.get("reason") not in DELETED_REASONS or not cluster or about.get("name") != cluster:
        return None
    if not m or m.group("ns") != namespace:
        return None
    code, reason = EXIT_CODE_RE.search(m.group("term")), REASON_RE.search(m.group("term"))
    return (
        m.group("pod"),
        int(code.group("code")) if code else None,
        reason.group("reason") if reason else m.group("phase"),
    )


def ended_at(job: dict[str, Any]) -> str:
    """When the RayJob ended (status.endTime, set as its deployment goes Complete or Failed),
    else when the attempt's Ray job did (status.rayJobInfo.endTime, from the dashboard: a
    Retrying attempt has only that); '' while it runs (rayjob_controller.go, KubeRay v1.7.0)."""
    st = status_of(job)
    if finished(job) and st.get("endTime"):
        return str(st["endTime"])
    if finished(job) or phase(job) == "Retrying":
        return str((st.get("rayJobInfo") or {}).get("endTime") or "")
    return ""


def related_names(job: dict[str, Any]) -> set[str]:
    """The RayCluster: KubeRay's events about it (head pod, scaling) concern the job too."""
    cluster = status_of(job).get("rayClusterName")
    return {cluster} if cluster else set()


def final_message(job: dict[str, Any]) -> str:
    """Ray's own account of the end, which quotes the driver's last output when it failed: the
    classifier reads it too, since the pods may be gone by the time anyone asks."""
    st = status_of(job)
    return "\n".join(x for x in (st.get("reason"), st.get("message")) if x)


def notice(job: dict[str, Any]) -> str | None:
    """What to tell the job's owner about, as a key that is the same for the same event however
    often it is read: `Succeeded`, `Failed`, `Stopped` (KubeRay v1.7.0 rayjob_controller.go
    ends a job whose Ray status is STOPPED, `ray job stop`, as deployment Complete, like a
    success; only jobStatus tells them apart), or `Retrying#<n>` when KubeRay submits again after
    its n-th failed attempt (spec.backoffLimit; status.failed counts them, ray.io_rayjobs CRD of
    KubeRay 1.7); None while it runs."""
    if failed(job) and finished(job):
        return "Failed"
    if finished(job) and status_of(job).get("jobStatus") == "STOPPED":
        return "Stopped"
    if finished(job):
        return "Succeeded"
    if phase(job) == "Retrying":
        return f"Retrying#{status_of(job).get('failed') or 0}"
    return None
