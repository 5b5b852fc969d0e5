"""A RayJob's cluster as KubeRay v1.7.0 changes it when a head or worker pod fails, served by
the fake API server of operator_replay.py (list, watch from a resourceVersion, get, logs,
events) for the watcher.

The order follows kuberay v1.7.0 ray-operator/controllers/ray/raycluster_controller.go
reconcilePods and shouldDeletePod:
- under restartPolicy Never (what common/pod.go sets with autoscaler v2, or a template's own) a
  Ray container that ends leaves the pod Failed; KubeRay DELETES it, records `DeletedWorkerPod`
  or `DeletedHeadPod` ("Deleted worker Pod <ns>/<pod>; Pod status: Failed; ...") on the
  RayCluster, and creates a new pod in a later reconcile, named anew from generateName
  (`<cluster>-head-<5>`, `<cluster>-<group>-worker-<5>`), which the scheduler places, maybe
  elsewhere;
- under restartPolicy Always (the API's default, which our RayJobs keep) KubeRay leaves the pod
  alone and the kubelet starts the container again in it: the pod shows the ended container,
  then runs with it as `lastState` and restartCount one higher;
- the RayJob's status stays as it is through either (rayjob_controller.go changes it from the
  submitter and the dashboard's job info only): Running, jobStatus RUNNING, failed 0;
- when the RayJob ends it gets its status first and its cluster is deleted afterwards, whose
  pods then end too (their containers stopped by the deletion's SIGTERM).
"""

from __future__ import annotations

import copy

from operator_replay import PODS_PATH, OperatorReplay, stamp
from ray_life import rayjob
from watch_support import NS, RAYJOBS_PATH

CLUSTER = "llm-7xk2p"  # utils.GenerateRayClusterName: `<rayjob>-<5 random>`
CONTAINERS = {"head": "ray-head", "worker": "ray-worker"}


class KubeRayReplay(OperatorReplay):
    """One RayJob running on its RayCluster (a head and two GPU workers, `restart_policy` on
    every Ray pod), changed by the kubelet's and KubeRay's steps below."""

    path = RAYJOBS_PATH

    def __init__(self, restart_policy: str):
        self.blank()
        self.restart_policy = restart_policy
        self.previous: dict[str, str] = {}  # pod uid -> its container's previous run's log
        self.cluster = {"kind": "RayCluster", "metadata": {"name": CLUSTER, "uid": "uid-rc"}}
        self.job = {}
        self.status("Initializing", "")
        self.create_pod("head", "node-a", 0.2)
        self.create_pod("worker", "node-b", 0.3)
        self.create_pod("worker", "node-c", 0.3)
        self.status("Running", "RUNNING")

    def answer(self, path: str, query: dict) -> tuple[int, bytes, str]:
        name, _, rest = path[len(PODS_PATH) + 1 :].partition("/")
        pod = self.pods.get(name) if path.startswith(f"{PODS_PATH}/") else None
        if pod and rest == "log" and query.get("previous", [""])[0].lower() == "true":
            return 200, self.previous.get(pod["metadata"]["uid"], "").encode(), "text/plain"
        return super().answer(path, query)

    # ---------------------------------------------------------------------- what changes them

    def status(
        self, deployment: str, job_status: str, message: str = "", minutes: float = 0
    ) -> None:
        """rayjob_controller.go's status update (`failed` stays 0: backoffLimit 0 here); a
        Complete or Failed deployment gets its endTime (updateRayJobStatus)."""
        self.job.clear()
        self.job.update(rayjob(self.version, deployment, job_status, 0, CLUSTER,
                               "AppFailed" if message else "", message))  # fmt: skip
        if deployment in ("Complete", "Failed"):
            self.job["status"]["endTime"] = stamp(minutes)
        self._bump("job", "MODIFIED", self.job)

    def create_pod(self, node_type: str, node: str, minutes: float, log: str = "step 1\n") -> str:
        """KubeRay's createHeadPod / createWorkerPod, then the scheduler: a new name each time."""
        self.serial += 1
        group = "headgroup" if node_type == "head" else "gpu"
        name = f"{CLUSTER}-head-h{self.serial:04d}" if node_type == "head" else (
            f"{CLUSTER}-gpu-worker-w{self.serial:04d}")  # fmt: skip
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name, "namespace": NS, "uid": f"uid-{node_type}-{self.serial}",
                "labels": {"ray.io/cluster": CLUSTER, "ray.io/group": group,
                           "ray.io/node-type": node_type, "ray.io/is-ray-node": "yes"},
                "ownerReferences": [{"apiVersion": "ray.io/v1", "kind": "RayCluster",
                                     "name": CLUSTER, "uid": "uid-rc", "controller": True}],
                "creationTimestamp": stamp(minutes),
            },
            "spec": {"nodeName": node, "restartPolicy": self.restart_policy,
                     "containers": [{"name": CONTAINERS[node_type]}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": CONTAINERS[node_type], "ready": True, "restartCount": 0, "image": "i",
                 "imageID": "", "state": {"running": {"startedAt": stamp(minutes)}}}]},
        }  # fmt: skip
        self.pods[name] = pod
        self.logs[pod["metadata"]["uid"]] = log
        self._bump("pod", "ADDED", pod)
        self.event(pod, "Scheduled", f"Successfully assigned {NS}/{name} to {node}", minutes)
        return name

    def container_exits(self, name: str, code: int, minutes: float, reason: str = "Error",
                        log: str = "") -> None:  # fmt: skip
        """The kubelet: the Ray container ended. Under Never the pod is Failed; under Always it
        shows the ended container, then starts it again in the same pod."""
        pod = self.pods[name]
        uid = pod["metadata"]["uid"]
        self.logs[uid] += log
        cs = pod["status"]["containerStatuses"][0]
        ended = {"exitCode": code, "reason": reason, "startedAt": stamp(0),
                 "finishedAt": stamp(minutes), "containerID": f"containerd://{uid}-{minutes}"}  # fmt: skip
        cs.update(ready=False, state={"terminated": ended})
        if self.restart_policy == "Never":
            pod["status"]["phase"] = "Failed"
            self._bump("pod", "MODIFIED", pod)
            return
        self._bump("pod", "MODIFIED", pod)
        self.previous[uid], self.logs[uid] = self.logs[uid], "ray start --block\n"
        cs.update(ready=True, restartCount=cs["restartCount"] + 1, lastState={"terminated": ended},
                  state={"running": {"startedAt": stamp(minutes + 0.2)}})  # fmt: skip
        self._bump("pod", "MODIFIED", pod)

    def kuberay_reconciles(self, name: str, minutes: float, new_node: str) -> str:
        """reconcilePods on a Failed pod: delete it and say so on the RayCluster; the next
        reconcile creates its replacement. The replacement's name."""
        pod = self.pods.pop(name)
        node_type = pod["metadata"]["labels"]["ray.io/node-type"]
        term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        pod["metadata"]["deletionTimestamp"] = stamp(minutes)
        self._bump("pod", "DELETED", pod)
        reason = "DeletedHeadPod" if node_type == "head" else "DeletedWorkerPod"
        # The terminated state as Go's %v prints it (k8s.io/api's generated String()).
        state = (f"&ContainerStateTerminated{{ExitCode:{term['exitCode']},Signal:0,Reason:"
                 f"{term['reason']},Message:,StartedAt:2026-11-25 09:00:00 +0000 UTC,FinishedAt:"
                 f"{term['finishedAt']},ContainerID:{term['containerID']},}}")  # fmt: skip
        self.event(self.cluster, reason, f"Deleted {node_type} Pod {NS}/{name}; Pod status: "
                   f"Failed; Pod restart policy: {self.restart_policy}; Ray container terminated "
                   f"status: {state}", minutes)  # fmt: skip
        return self.create_pod(node_type, new_node, minutes + 0.1)

    def cluster_deleted(self, minutes: float) -> None:
        """The RayJob ended: its cluster is deleted and every pod stops on SIGTERM (143)."""
        for name in list(self.pods):
            pod = copy.deepcopy(self.pods.pop(name))
            pod["metadata"]["deletionTimestamp"] = stamp(minutes)
            pod["status"]["phase"] = "Failed"
            pod["status"]["containerStatuses"][0]["state"] = {"terminated": {
                "exitCode": 143, "reason": "Error", "finishedAt": stamp(minutes + 0.1)}}  # fmt: skip
            self._bump("pod", "MODIFIED", pod)
            self._bump("pod", "DELETED", pod)
