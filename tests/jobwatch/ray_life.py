"""A RayJob's life as KubeRay v1.7.0 writes it, replayed by the fake API server of
watch_support.py: running, a failed attempt retried on a new RayCluster, then failed for good.

KubeRay v1.7.0 ray-operator/controllers/ray/rayjob_controller.go: a failed attempt counts in
`status.failed` (checkBackoffLimitAndUpdateStatusIfNeeded, in the same status update that ends
it) and, while `failed < backoffLimit + 1`, goes to `Retrying` instead of `Failed`, keeping its
reason and message. `Retrying` deletes the RayCluster and the submitter Job, clears
rayClusterName, jobId, reason and message, and goes to `New` (""); the next attempt gets a new
cluster name (utils.GenerateRayClusterName: `<rayjob>-<5 random>`). The fields are those of the
ray.io_rayjobs CRD (v1 status: jobDeploymentStatus, jobStatus, failed, succeeded, reason,
message, rayClusterName, jobId)."""

from __future__ import annotations

from watch_support import JOB, NS, RAYJOBS_PATH, UID, JobLife

CLUSTER_1, CLUSTER_2 = f"{JOB}-7xk2p", f"{JOB}-q9m4d"
T0, T1, T2 = "2026-11-25T09:00:00Z", "2026-11-25T09:30:00Z", "2026-11-25T10:10:00Z"
# Ray's message on a failed entrypoint quotes the driver's last output (JobInfo.message).
FIRST_MESSAGE = "Job entrypoint command failed with exit code 1, last available logs: ..."
FINAL_MESSAGE = (
    "Job entrypoint command failed with exit code 1, last available logs (truncated to 20,000 "
    "chars):\nray.exceptions.RayTaskError(OutOfMemoryError): ray::_RayTrainWorker__execute"
    ".get_next() (pid=412, ip=10.42.19.7)\ntorch.OutOfMemoryError: CUDA out of memory. Tried to "
    "allocate 2.00 GiB. GPU 0 has a total capacity of 22.06 GiB of which 1.12 GiB is free."
)


def rayjob(version: int, deployment: str, job_status: str, failed: int, cluster: str,
           reason: str = "", message: str = "") -> dict:  # fmt: skip
    st = {
        "jobDeploymentStatus": deployment,
        "jobStatus": job_status,
        "failed": failed,
        "succeeded": 0,
        "rayClusterName": cluster,
        "jobId": f"{cluster}-sub" if cluster else "",
    }
    st.update({k: v for k, v in (("reason", reason), ("message", message)) if v})
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": JOB, "namespace": NS, "uid": UID, "resourceVersion": str(version)},
        "spec": {"backoffLimit": 1, "submissionMode": "K8sJobMode", "entrypoint": "python -m x"},
        "status": st,
    }


RAY_LIFE = [
    rayjob(20, "Initializing", "", 0, CLUSTER_1),
    rayjob(21, "Running", "RUNNING", 0, CLUSTER_1),
    # Attempt 1 fails: counted, and retried since failed (1) < backoffLimit + 1 (2).
    rayjob(22, "Retrying", "FAILED", 1, CLUSTER_1, "AppFailed", FIRST_MESSAGE),
    rayjob(23, "", "", 1, ""),  # its cluster and submitter deleted, status reset to New
    rayjob(24, "Initializing", "", 1, CLUSTER_2),
    rayjob(25, "Running", "RUNNING", 1, CLUSTER_2),
    rayjob(26, "Failed", "FAILED", 2, CLUSTER_2, "AppFailed", FINAL_MESSAGE),
]
RETRY, FAILED = 2, 6  # cursors

OOM = {"exitCode": 137, "reason": "OOMKilled", "finishedAt": T1}


def ray_pod(name: str, labels: dict, container: str, created: str, ended: dict | None = None,
            restarted: bool = False, command: list | None = None) -> dict:  # fmt: skip
    """A pod as the API returns it; `ended` its container's terminated state (the current one,
    or with `restarted` the last one, the kubelet having started it again)."""
    cs = {"name": container, "image": "ecr/trainer@sha256:ab", "imageID": "",
          "ready": ended is None or restarted, "restartCount": int(restarted),
          "state": {"running": {}} if ended is None or restarted else {"terminated": ended}}  # fmt: skip
    if ended and restarted:
        cs["lastState"] = {"terminated": ended}
    spec_container = {"name": container, **({"command": command} if command else {})}
    return {
        "metadata": {"name": name, "namespace": NS, "labels": labels, "creationTimestamp": created},
        "spec": {"containers": [spec_container]},
        "status": {
            "phase": "Failed" if ended and not restarted else "Running",
            "containerStatuses": [cs],
        },  # fmt: skip
    }


def head(cluster: str, created: str) -> dict:
    labels = {"ray.io/cluster": cluster, "ray.io/group": "headgroup", "ray.io/node-type": "head"}
    return ray_pod(f"{cluster}-head-x2k9v", labels, "ray-head", created)


def worker(cluster: str, suffix: str, created: str, **kw) -> dict:
    labels = {"ray.io/cluster": cluster, "ray.io/group": "gpu", "ray.io/node-type": "worker"}
    return ray_pod(f"{cluster}-gpu-worker-{suffix}", labels, "ray-worker", created, **kw)


def submitter(suffix: str, cluster: str, created: str, **kw) -> dict:
    # KubeRay v1.7.0 rayjob_controller.go: `/bin/bash -ce --` and the `ray job status || ray job
    # submit ...; ray job logs --follow` line (common/job.go BuildJobSubmitCommand).
    line = (f"if ! ray job status --address http://{cluster}-head-svc:8265 {cluster}-sub; then "
            f"ray job submit --address http://{cluster}-head-svc:8265 --no-wait --submission-id "
            f"{cluster}-sub -- python -m trainer.ray_train --num-workers 2 ; fi ; ray job logs "
            f"--address http://{cluster}-head-svc:8265 --follow {cluster}-sub")  # fmt: skip
    labels = {"batch.kubernetes.io/job-name": JOB, "job-name": JOB}
    return ray_pod(f"{JOB}-{suffix}", labels, "ray-job-submitter", created,
                   command=["/bin/bash", "-ce", "--", line], **kw)  # fmt: skip


# Attempt 1: a GPU worker's container killed for host memory (the kubelet restarted it), the
# driver gone with it. Attempt 2: the driver's CUDA OOM, its submitter exited 1.
ATTEMPT_1 = [
    head(CLUSTER_1, T0),
    worker(CLUSTER_1, "b7r2t", T0, ended=OOM, restarted=True),
    worker(CLUSTER_1, "c4k8z", T0),
    submitter("sub1a", CLUSTER_1, T0, ended={"exitCode": 1, "reason": "Error", "finishedAt": T1}),
]
ATTEMPT_2 = [
    head(CLUSTER_2, T2),
    worker(CLUSTER_2, "d5n1w", T2),
    worker(CLUSTER_2, "e8p3s", T2),
    submitter("sub2b", CLUSTER_2, T2, ended={"exitCode": 1, "reason": "Error", "finishedAt": T2}),
]
LOGS = {
    f"{JOB}-sub1a": "Running training step 310\n"
    "ray.exceptions.ActorDiedError: The actor died unexpectedly before finishing this task.\n",
    f"{JOB}-sub2b": "Running training step 12\n" + FINAL_MESSAGE.split("\n", 1)[1] + "\n",
}


class RayLife(JobLife):
    """The RayJob at `cursor` (an index into RAY_LIFE), and the pods of the attempt then
    running: the first attempt's cluster and submitter are deleted when it is retried."""

    path = RAYJOBS_PATH
    life = RAY_LIFE

    def current_pods(self) -> list[dict]:
        status = self.life[self.cursor]["status"]
        if status["rayClusterName"] == CLUSTER_1 and self.cursor < RETRY:
            # Before the attempt ends (T1) its pods run: the OOM kill is what ends it.
            return [head(CLUSTER_1, T0), worker(CLUSTER_1, "b7r2t", T0), *ATTEMPT_1[2:]]
        if status["rayClusterName"] == CLUSTER_1:
            return ATTEMPT_1
        return ATTEMPT_2 if status["rayClusterName"] == CLUSTER_2 else []

    def pods(self, query: dict) -> list[dict]:
        from fake_apiserver import matches

        return [p for p in self.current_pods() if matches(p["metadata"]["labels"], query)]

    def log(self, pod: str, query: dict) -> str | None:
        if pod not in {p["metadata"]["name"] for p in self.current_pods()}:
            return None
        return LOGS.get(pod)
