"""A PyTorchJob's life replayed by a fake Kubernetes API server (tests/ops/fake_apiserver.py)
for the watcher: the job at each resourceVersion, list and watch answers from a cursor the test
moves, the job's pods, events and rank 0's log, and the watcher's ConfigMap with the API
server's optimistic concurrency (a stale resourceVersion gets 409)."""

from __future__ import annotations

import copy
import json

from fake_apiserver import JSON, status

NS, JOB, UID = "training", "llm", "6f1c9d2e-0000-4000-8000-000000000001"
CONFIGMAP = "jobwatch-state"
JOBS_PATH = f"/apis/kubeflow.org/v1/namespaces/{NS}/pytorchjobs"
RAYJOBS_PATH = f"/apis/ray.io/v1/namespaces/{NS}/rayjobs"
CM_PATH = f"/api/v1/namespaces/{NS}/configmaps/{CONFIGMAP}"
T_CREATED, T_RUNNING = "2026-11-25T09:00:00Z", "2026-11-25T09:03:10Z"
T_RESTART, T_RUNNING2, T_FAILED = (
    "2026-11-25T09:20:04Z",
    "2026-11-25T09:22:30Z",
    "2026-11-25T09:41:12Z",
)


def condition(kind: str, state: str, when: str) -> dict:
    # training-operator v1.9 pkg/controller.v1/common: one condition per type, updated in place.
    return {
        "type": kind,
        "status": state,
        "reason": f"PyTorchJob{kind}",
        "message": f"PyTorchJob {NS}/{JOB} is {kind.lower()}.",
        "lastUpdateTime": when,
        "lastTransitionTime": when,
    }


def job(version: int, conditions: list[dict]) -> dict:
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": JOB, "namespace": NS, "uid": UID, "resourceVersion": str(version)},
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "restartPolicy": "ExitCode"},
                "Worker": {"replicas": 3, "restartPolicy": "ExitCode"},
            }
        },
        "status": {"conditions": conditions},
    }


CREATED = condition("Created", "True", T_CREATED)
# (resourceVersion, job) in the order the API server saw them: running, a restart, running
# again, failed.
LIFE = [
    job(10, [CREATED, condition("Running", "True", T_RUNNING)]),
    job(
        11,
        [
            CREATED,
            condition("Running", "False", T_RESTART),
            condition("Restarting", "True", T_RESTART),
        ],
    ),
    job(
        12,
        [
            CREATED,
            condition("Running", "True", T_RUNNING2),
            condition("Restarting", "False", T_RUNNING2),
        ],
    ),
    job(
        13,
        [
            CREATED,
            condition("Running", "False", T_FAILED),
            condition("Restarting", "False", T_RUNNING2),
            condition("Failed", "True", T_FAILED),
        ],
    ),
]


def pod(rtype: str, index: int, last_state: dict | None = None) -> dict:
    labels = {
        "training.kubeflow.org/job-name": JOB,
        "training.kubeflow.org/replica-type": rtype,
        "training.kubeflow.org/replica-index": str(index),
    }
    cs = {
        "name": "pytorch",
        "image": "ecr/trainer@sha256:ab",
        "imageID": "",
        "ready": last_state is None,
        "restartCount": 1 if last_state else 0,
        "state": {"running": {}} if last_state is None else {"terminated": last_state},
    }
    if last_state:
        cs["lastState"] = {"terminated": last_state}
    return {
        "metadata": {"name": f"{JOB}-{rtype.lower()}-{index}", "namespace": NS, "labels": labels},
        "spec": {"containers": [{"name": "pytorch"}]},
        "status": {"phase": "Failed" if last_state else "Running", "containerStatuses": [cs]},
    }


OOM = {"exitCode": 137, "reason": "OOMKilled", "finishedAt": T_FAILED}
PODS = [pod("Master", 0), pod("Worker", 0), pod("Worker", 1), pod("Worker", 2, OOM)]
# What the master printed when worker-2 vanished: a symptom, which the OOM kill explains.
MASTER_LOG = (
    "step 1200 loss 2.31\n"
    "[rank0]:[E1125 09:41:05 ProcessGroupNCCL.cpp:616] [Rank 0] Watchdog caught collective "
    "operation timeout: WorkNCCL(SeqNum=88, OpType=ALLREDUCE) ran for 600000 milliseconds\n"
)


class JobLife:
    """The cluster's answers at `cursor` (an index into LIFE): list returns LIFE[cursor], a watch
    from version v streams every later version up to the cursor, then ends."""

    def __init__(self):
        self.cursor = 0
        self.gone_below = 0  # a watch from a version under this gets a 410 ERROR event
        self.configmap = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": CONFIGMAP, "namespace": NS, "resourceVersion": "1"},
            # Not the watcher's first start: jobs present at start are notified (sent.BASELINE).
            "data": {"jobwatch.trainstack.io/baseline": "true"},
        }
        self.watches: list[str] = []  # resourceVersion of each watch request

    # The kind whose life this is; the other kind's list is empty. RayLife (ray_life.py) replays
    # a RayJob's through the same answers.
    path = JOBS_PATH
    life = LIFE

    def answer(self, path: str, query: dict) -> tuple[int, bytes, str]:
        if path == self.path and watching(query):
            return self._watch(int(query["resourceVersion"][0]))
        if path == self.path:
            current = self.life[self.cursor]
            body = {
                "items": [current],
                "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
            }
            return 200, json.dumps(body).encode(), JSON
        if path in (JOBS_PATH, RAYJOBS_PATH):
            body = {"items": [], "metadata": {"resourceVersion": "5"}}
            if watching(query):
                return 200, b"", JSON
            return 200, json.dumps(body).encode(), JSON
        if path == f"/api/v1/namespaces/{NS}/pods":
            return 200, json.dumps({"items": self.pods(query)}).encode(), JSON
        if path == f"/api/v1/namespaces/{NS}/events":
            return 200, json.dumps({"items": []}).encode(), JSON
        if path.startswith(f"/api/v1/namespaces/{NS}/pods/") and path.endswith("/log"):
            text = self.log(path.split("/")[-2], query)
            if text is not None:
                return 200, text.encode(), "text/plain"
        if path == CM_PATH:
            return 200, json.dumps(self.configmap).encode(), JSON
        return status(404, "NotFound", path)

    def pods(self, query: dict) -> list[dict]:
        # Every pod runs until worker-2's container is killed, which restarts the job.
        return PODS if self.cursor else PODS[:3] + [pod("Worker", 2)]

    def log(self, pod: str, query: dict) -> str | None:
        return MASTER_LOG if pod == f"{JOB}-master-0" else None

    def _watch(self, since: int) -> tuple[int, bytes, str]:
        self.watches.append(str(since))
        if since < self.gone_below:
            gone = {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                                "reason": "Expired", "message": "too old resource version",
                                                "code": 410}}  # fmt: skip
            return 200, (json.dumps(gone) + "\n").encode(), JSON
        later = [
            j for j in self.life[: self.cursor + 1] if int(j["metadata"]["resourceVersion"]) > since
        ]
        lines = [json.dumps({"type": "MODIFIED", "object": j}) for j in later]
        return 200, "".join(line + "\n" for line in lines).encode(), JSON

    def write(self, method: str, path: str, query: dict, body) -> tuple[int, bytes, str]:
        if method != "PUT" or path != CM_PATH:
            return status(405, "MethodNotAllowed", f"{method} {path}")
        sent_version = (body.get("metadata") or {}).get("resourceVersion")
        if sent_version != self.configmap["metadata"]["resourceVersion"]:
            return status(409, "Conflict", "the object has been modified")
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(int(sent_version) + 1)
        self.configmap = stored
        return 200, json.dumps(stored).encode(), JSON


def watching(query: dict) -> bool:
    # The client sends watch=True (Python's bool as text), kubectl watch=true.
    return query.get("watch", [""])[0].lower() == "true"
