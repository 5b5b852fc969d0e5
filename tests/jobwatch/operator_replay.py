"""A PyTorchJob's pods, events and status as the training operator v1.9.3 changes them, served
by the fake API server (list, watch from a resourceVersion, get, logs, events) for the watcher.

The order of one retryable failure follows kubeflow/trainer v1.9.3
pkg/controller.v1/common/pod.go ReconcilePods: the kubelet marks the pod Failed with its
container's terminated state; the operator records the Normal event `ExitedWithCode`
("Pod: <ns>.<pod> exited with code <N>") on the job, DELETES the pod, records
`PyTorchJobRestarting` and sets the Restarting condition (which replaces Running:
pkg/util/status.go filterOutCondition, with a new lastTransitionTime), then creates a replacement
of the same name (common/util.go GenGeneralName) that the scheduler places, maybe elsewhere,
and once it runs the job is Running again (a new lastTransitionTime once more). A pod that exits
below 128 under ExitCode is not deleted: the job gets its Failed condition. Events are
aggregated as client-go's recorder does: the same object, reason and message add to `count`
and move `lastTimestamp`.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone

from fake_apiserver import JSON, status
from watch_support import JOB, NS, UID, JobLife, watching

POD_LABEL = "training.kubeflow.org/job-name"
PODS_PATH = f"/api/v1/namespaces/{NS}/pods"
START = datetime(2026, 11, 25, 9, 0, 0, tzinfo=timezone.utc)
# The EFA-checked command the stack renders (components/job_command.py efa_checked).
COMMAND = [
    "/bin/sh", "-c", "python -m trainer.selftest --level quick --expect-efa --node-check "
    "--backoff-limit=3 --checkpoint-dir=/checkpoints/llm/checkpoints && exec \"$@\"", "sh",
    "python", "-m", "trainer.launch", "--backoff-limit=3",
    "--checkpoint-dir=/checkpoints/llm/checkpoints", "--nnodes=$(PET_NNODES)",
    "--nproc-per-node=4", "-m", "trainer", "--preset", "llama3-8b",
]  # fmt: skip


def stamp(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


class OperatorReplay(JobLife):
    """The cluster: one PyTorchJob (Master + 3 Workers, restartPolicy ExitCode), its pods and
    events, changed by the operator's steps below. Every change gets the next resourceVersion
    and a watch event on its stream ('job' or 'pod'); a watch returns what happened since its
    version, then ends."""

    def __init__(self):
        self.blank()
        self.conditions: list[dict] = []
        self.job = self._job()
        self.condition("Created", "PyTorchJobCreated", 0)
        for name, node in (("master-0", "node-a"), ("worker-0", "node-b"),
                           ("worker-1", "node-c"), ("worker-2", "node-d")):  # fmt: skip
            self.create_pod(name, node, 0.5)
        self.condition("Running", "PyTorchJobRunning", 1)

    def blank(self) -> None:
        """An empty cluster (kuberay_replay.py starts from it too)."""
        JobLife.__init__(self)
        self.version = 100
        self.history: list[tuple[int, str, str, dict]] = []  # (version, stream, type, object)
        self.pods: dict[str, dict] = {}  # name -> the pod of that name now
        self.events: list[dict] = []
        self.logs: dict[str, str] = {}  # pod uid -> its log
        self.serial = 0

    # ----------------------------------------------------------------------- the API's answers

    def answer(self, path: str, query: dict) -> tuple[int, bytes, str]:
        if path == self.path:  # the kind replayed (JobLife.path)
            return self._list_or_watch("job", [self.job], query)
        if path == f"{self.path}/{JOB}":
            return 200, json.dumps(self.job).encode(), JSON
        if path == PODS_PATH:
            pods = [p for p in self.pods.values() if _selected(p, query)]
            return self._list_or_watch("pod", pods, query)
        if path.startswith(f"{PODS_PATH}/"):
            name, _, rest = path[len(PODS_PATH) + 1 :].partition("/")
            pod = self.pods.get(name)
            if pod is None:
                return status(404, "NotFound", f'pods "{name}" not found')
            if rest == "log":  # by name: whichever pod has the name now
                return 200, self.logs.get(pod["metadata"]["uid"], "").encode(), "text/plain"
            return 200, json.dumps(pod).encode(), JSON
        if path == f"/api/v1/namespaces/{NS}/events":
            body = {"items": self.events, "metadata": {"resourceVersion": str(self.version)}}
            return 200, json.dumps(body).encode(), JSON
        return super().answer(path, query)

    def _list_or_watch(self, stream: str, items: list[dict], query: dict):
        if not watching(query):
            body = {"items": items, "metadata": {"resourceVersion": str(self.version)}}
            return 200, json.dumps(body).encode(), JSON
        since = int(query["resourceVersion"][0])
        lines = [
            json.dumps({"type": etype, "object": obj})
            for v, s, etype, obj in self.history
            if s == stream and v > since and (s == "job" or _selected(obj, query))
        ]
        return 200, "".join(line + "\n" for line in lines).encode(), JSON

    # ---------------------------------------------------------------------- what changes them

    def _bump(self, stream: str, etype: str, obj: dict) -> None:
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)
        self.history.append((self.version, stream, etype, copy.deepcopy(obj)))

    def _job(self) -> dict:
        spec = {"replicas": 1, "restartPolicy": "ExitCode"}
        return {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "metadata": {"name": JOB, "namespace": NS, "uid": UID, "resourceVersion": "100"},
            "spec": {"pytorchReplicaSpecs": {"Master": spec, "Worker": {**spec, "replicas": 3}}},
            "status": {"conditions": self.conditions},
        }

    def condition(self, ctype: str, reason: str, minutes: float) -> None:
        """pkg/util/status.go setCondition: Running and Restarting replace each other, each
        with a new lastTransitionTime; Failed sets Running False."""
        drop = {ctype, {"Running": "Restarting", "Restarting": "Running"}.get(ctype)}
        kept = [c for c in self.conditions if c["type"] not in drop]
        if ctype == "Failed":
            kept = [{**c, "status": "False"} if c["type"] == "Running" else c for c in kept]
        when = stamp(minutes)
        kept.append({"type": ctype, "status": "True", "reason": reason, "message": reason,
                     "lastUpdateTime": when, "lastTransitionTime": when})  # fmt: skip
        self.conditions[:] = kept
        self._bump("job", "MODIFIED", self.job)

    def event(self, obj: dict, reason: str, message: str, minutes: float, etype="Normal") -> None:
        regarding = {"kind": obj["kind"], "name": obj["metadata"]["name"],
                     "namespace": NS, "uid": obj["metadata"]["uid"]}  # fmt: skip
        for e in self.events:
            if (e["involvedObject"], e["reason"], e["message"]) == (regarding, reason, message):
                e["count"] += 1
                e["lastTimestamp"] = stamp(minutes)
                return
        self.events.append({"metadata": {"name": f"ev-{len(self.events)}", "namespace": NS},
                            "involvedObject": regarding, "reason": reason, "message": message,
                            "type": etype, "count": 1, "firstTimestamp": stamp(minutes),
                            "lastTimestamp": stamp(minutes)})  # fmt: skip

    def create_pod(self, name: str, node: str, minutes: float, log: str = "step 1 loss 9.1\n"):
        self.serial += 1
        rtype, index = name.split("-")
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{JOB}-{name}", "namespace": NS, "uid": f"uid-{name}-{self.serial}",
                "labels": {POD_LABEL: JOB, "training.kubeflow.org/replica-type": rtype,
                           "training.kubeflow.org/replica-index": index},
                "ownerReferences": [{"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
                                     "name": JOB, "uid": UID, "controller": True}],
                "creationTimestamp": stamp(minutes),
            },
            "spec": {"nodeName": node, "restartPolicy": "Never",
                     "containers": [{"name": "pytorch", "command": COMMAND}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "pytorch", "ready": True, "restartCount": 0, "image": "i",
                 "imageID": "", "state": {"running": {"startedAt": stamp(minutes)}}}]},
        }  # fmt: skip
        self.pods[pod["metadata"]["name"]] = pod
        self.logs[pod["metadata"]["uid"]] = log
        self._bump("pod", "ADDED", pod)
        self.event(pod, "Scheduled", f"Successfully assigned {NS}/{JOB}-{name} to {node}", minutes)
        return pod

    def container_exits(self, name: str, code: int, minutes: float, reason: str = "Error",
                        log: str = "") -> dict:  # fmt: skip
        """The kubelet: the container ended, the pod (restartPolicy Never) is Failed."""
        pod = self.pods[f"{JOB}-{name}"]
        self.logs[pod["metadata"]["uid"]] += log
        cs = pod["status"]["containerStatuses"][0]
        cs.update(ready=False, state={"terminated": {
            "exitCode": code, "reason": reason, "startedAt": stamp(0), "finishedAt": stamp(minutes)}})  # fmt: skip
        pod["status"]["phase"] = "Failed"
        self._bump("pod", "MODIFIED", pod)
        return pod

    def operator_reconciles(self, name: str, minutes: float, new_node: str) -> None:
        """ReconcilePods on the failed pod, in the operator's order."""
        pod = self.pods[f"{JOB}-{name}"]
        code = pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"]
        self.event(self.job, "ExitedWithCode", f"Pod: {NS}.{JOB}-{name} exited with code {code}",
                   minutes)  # fmt: skip
        if code < 128:  # not retryable under ExitCode: the job fails, the pod stays
            self.event(self.job, "PyTorchJobFailed", f'job "{JOB}" is failing because '
                       f'"{name.split("-")[0]}" replica(s) failed.', minutes, "Warning")  # fmt: skip
            self.condition("Failed", "PyTorchJobFailed", minutes)
            return
        del self.pods[pod["metadata"]["name"]]
        self._bump("pod", "DELETED", pod)
        self.event(self.job, "PyTorchJobRestarting", f"job {JOB} is restarting because "
                   f"{name.split('-')[0]} replica(s) failed.", minutes, "Warning")  # fmt: skip
        self.condition("Restarting", "PyTorchJobRestarting", minutes)
        self.create_pod(name, new_node, minutes + 0.2)
        self.condition("Running", "PyTorchJobRunning", minutes + 1)


def _selected(pod: dict, query: dict) -> bool:
    """labelSelector terms: `key=value`, or a bare `key` (the label exists)."""
    labels = pod["metadata"].get("labels") or {}
    for selector in query.get("labelSelector", []):
        for term in filter(None, selector.split(",")):
            key, eq, value = term.partition("=")
            if (eq and labels.get(key) != value) or (not eq and key not in labels):
                return False
    return True
