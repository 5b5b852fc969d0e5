"""What the status and logs tests share: recorded PyTorchJob objects and their pods (V1Pod
models), a terminal stand-in, and the shape of a classifier's cause."""

from __future__ import annotations

import io
from dataclasses import dataclass

from kubernetes import client as k8s

from trainstack.ops import pytorchjob as pytorch

NS, JOB = "training", "llm"


T0 = "2026-11-25T09:00:00Z"


def condition(kind, status, when, message, reason=None):
    return {
        "type": kind,
        "status": status,
        "reason": reason or f"PyTorchJob{kind}",
        "message": message,
        "lastUpdateTime": when,
        "lastTransitionTime": when,
    }


def pytorchjob(conditions, replica_statuses, elastic=False):
    specs = (
        {"Worker": {"replicas": 2, "restartPolicy": "OnFailure"}}
        if elastic
        else {
            "Master": {"replicas": 1, "restartPolicy": "OnFailure"},
            "Worker": {"replicas": 1, "restartPolicy": "OnFailure"},
        }
    )
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": JOB, "namespace": NS},
        "spec": {"nprocPerNode": "4", "pytorchReplicaSpecs": specs},
        "status": {"conditions": conditions, "replicaStatuses": replica_statuses, "startTime": T0},
    }


RUNNING = pytorchjob(
    [
        condition("Created", "True", T0, f"PyTorchJob {JOB} is created."),
        condition("Running", "True", "2026-11-25T09:03:10Z", f"PyTorchJob {NS}/{JOB} is running."),
    ],
    {"Master": {"active": 1}, "Worker": {"active": 1}},
)


FAILED = pytorchjob(
    [
        condition("Created", "True", T0, f"PyTorchJob {JOB} is created."),
        condition("Running", "False", "2026-11-25T09:40:00Z", f"PyTorchJob {NS}/{JOB} is running."),
        condition(
            "Failed",
            "True",
            "2026-11-25T09:40:00Z",
            f"PyTorchJob {NS}/{JOB} is failed because 1 Worker replica(s) failed.",
        ),
    ],
    {"Master": {"active": 1}, "Worker": {"failed": 1}},
)


def pod(
    rtype,
    index,
    *,
    phase="Running",
    node="ip-10-0-1-5.us-west-2.compute.internal",
    state=None,
    last_state=None,
    restarts=0,
    conditions=None,
):
    name = f"{JOB}-{rtype}-{index}"
    labels = {pytorch.JOB_LABEL: JOB, pytorch.TYPE_LABEL: rtype, pytorch.INDEX_LABEL: str(index)}
    running = k8s.V1ContainerState(running=k8s.V1ContainerStateRunning())
    status = k8s.V1ContainerStatus(
        name="pytorch",
        image="ecr/trainer@sha256:ab",
        image_id="",
        ready=phase == "Running",
        restart_count=restarts,
        state=state or running,
        last_state=last_state,
    )
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name, namespace=NS, labels=labels),
        spec=k8s.V1PodSpec(node_name=node, containers=[k8s.V1Container(name="pytorch")]),
        status=k8s.V1PodStatus(phase=phase, container_statuses=[status], conditions=conditions),
    )


def oom_killed_worker():
    waiting = k8s.V1ContainerState(
        waiting=k8s.V1ContainerStateWaiting(
            reason="CrashLoopBackOff", message="back-off 5m0s restarting failed container"
        )
    )
    last = k8s.V1ContainerState(
        terminated=k8s.V1ContainerStateTerminated(exit_code=137, reason="OOMKilled")
    )
    return pod(
        "worker",
        0,
        state=waiting,
        last_state=last,
        restarts=4,
        node="ip-10-0-2-9.us-west-2.compute.internal",
    )


class FakeTty(io.StringIO):
    def isatty(self):
        return True


@dataclass
class RecordedCause:  # the shape diagnose.Cause has: code, summary, remedy
    code: str
    summary: str
    remedy: str
