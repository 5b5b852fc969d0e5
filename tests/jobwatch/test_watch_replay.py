"""The watcher against the training operator's real order (operator_replay.py, kubeflow/trainer
v1.9.3 common/pod.go): a failed pod is deleted and replaced before the job says Restarting, its
peers fail minutes later, conditions get new lastTransitionTimes on every update. Exactly one
message per incident, naming the failed pod, its node and its own cause; none again after the
watcher's restarts; a failure missed while no watcher ran is rebuilt from the events."""

from __future__ import annotations

import json

from operator_replay import OperatorReplay
from test_watcher import servers, topic, watcher  # noqa: F401 (fixtures)
from watch_support import JOB, NS, UID

from jobwatch import incidents, pytorchjob
from jobwatch.kinds import KINDS

PYTORCH = KINDS[0]
RESTARTED = f"trainstack: PyTorchJob {NS}/{JOB} restarted"
NCCL_LOG = (
    "step 9100 loss 1.92\n"
    "llm-worker-1:77:91 [2] NCCL WARN NET/OFI Request error: remote process exited\n"
    "RuntimeError: NCCL communicator was aborted on rank 6.\n"
    "trainer.launch: workers failed with {6: 1, 7: -15}; exiting 200\n"
)
WATCHDOG_LOG = (
    "[rank0]:[E1125 09:30:00 ProcessGroupNCCL.cpp:616] [Rank 0] Watchdog caught collective "
    "operation timeout: WorkNCCL(SeqNum=88, OpType=ALLREDUCE) ran for 600000 milliseconds\n"
)
S3_LOG = (
    "trainer: error: S3 refused the request: 403 AccessDenied on PutObject (Failed to upload "
    "x: An error occurred (AccessDenied) when calling the PutObject operation: Access Denied); "
    "a restart would be refused the same way.\n"
)


class Streams:
    """A watcher process with its two streams of one kind (jobs, pods) listed, then caught up on
    demand, as its threads would."""

    def __init__(self, server, tmp_path, publish, kind=PYTORCH):
        self.kind = kind
        self.w = watcher(server, tmp_path, publish)
        self.jobs = self.w.sync(kind)
        self.pods = self.w.sync_pods(kind)

    def catch_up(self) -> None:
        self.pods = self.w.watch_pods_once(self.kind, self.pods, 5)
        self.jobs = self.w.watch_once(self.kind, self.jobs, 5)


def test_one_message_per_incident_naming_the_failed_pod_its_node_and_its_cause(
    servers,  # noqa: F811
    topic,  # noqa: F811
    tmp_path,
):
    publish, read = topic
    c = OperatorReplay()
    server = servers(c.answer, c.write)
    first = Streams(server, tmp_path, publish)
    assert read() == []  # running

    # Incident 1, minute 20: worker-2's container is killed for host memory on node-d. The
    # operator deletes it, sets Restarting and replaces it on node-e before the watcher reads
    # anything: the pod's DELETED event still carries its status, and the replacement's log
    # (same name) is not taken for its own.
    c.container_exits("worker-2", 137, 20, reason="OOMKilled")
    c.operator_reconciles("worker-2", 20.1, "node-e")
    first.catch_up()
    [(subject, text)] = read()
    assert subject == f"{RESTARTED} (OOM_KILLED)"
    assert "Failed: pod llm-worker-2 on node node-d exited with code 137 (OOMKilled)" in text
    assert "1. [OOM_KILLED]" in text and "node-e" not in text
    # Read by name, the log was the replacement's by then: dropped, not taken for worker-2's.
    [captured] = first.w.restarts.failures[UID]
    assert captured.uid == "uid-worker-2-4" and captured.log_tail == ""

    # Minute 30: the peers' NCCL watchdogs fire; master-0 and worker-1 exit 200, each seen
    # failing, deleted and replaced, and the job goes Restarting and Running again twice, each
    # time with a new lastTransitionTime. The same incident: nothing more.
    for name, node in (("master-0", "node-f"), ("worker-1", "node-g")):
        c.container_exits(name, 200, 30, log=WATCHDOG_LOG)
        first.catch_up()
        c.operator_reconciles(name, 30.2, node)
        first.catch_up()
    assert read() == []
    assert sum(1 for *_, o in c.history if o.get("kind") == "PyTorchJob") >= 8

    # The watcher's pod is replaced: the new one lists jobs and pods and says nothing.
    second = Streams(server, tmp_path, publish)
    assert read() == []

    # Incident 2, minute 140: worker-1, now on node-g, exits 200 after an NCCL error; seen
    # failing while it exists, so its own log names the cause (rank 0's says nothing).
    c.container_exits("worker-1", 200, 140, log=NCCL_LOG)
    second.catch_up()
    c.operator_reconciles("worker-1", 140.1, "node-h")
    second.catch_up()
    [(subject, text)] = read()
    assert subject == f"{RESTARTED} (NCCL_ERROR)"
    assert "Failed: pod llm-worker-1 on node node-g exited with code 200" in text
    assert "NCCL WARN NET/OFI Request error" in text

    # Incident 3, minute 200, while no watcher runs: worker-1's replacement on node-h fails
    # its node check (201) and is replaced. The next watcher rebuilds it from the operator's
    # ExitedWithCode event and the scheduler's Scheduled event, and the older events (one of
    # them aggregated over incidents 1 and 2) are recognised as told.
    c.container_exits("worker-1", 201, 200)
    c.operator_reconciles("worker-1", 200.1, "node-i")
    third = Streams(server, tmp_path, publish)
    [(subject, text)] = read()
    assert subject == f"{RESTARTED} (NODE_CHECK_FAILED)"
    assert "Failed: pod llm-worker-1 on node node-h exited with code 201" in text
    assert "already deleted" in text and "kubectl cordon node-h" in text

    # Minute 260: master-0 (node-f) exits 2, S3 refused; under ExitCode the operator fails the
    # job and keeps the pod. No restart message; the failure names the master and its cause.
    c.container_exits("master-0", 2, 260, log=S3_LOG)
    third.catch_up()
    assert read() == []
    c.operator_reconciles("master-0", 260.1, "")
    third.catch_up()
    [(subject, text)] = read()
    assert subject == f"trainstack: PyTorchJob {NS}/{JOB} failed (S3_REFUSED)"
    assert "Failed: pod llm-master-0 on node node-f exited with code 2" in text
    assert "[PERMANENT_EXIT]" in text and "OOM_KILLED" not in text

    # A fourth watcher replaying the whole history: nothing new.
    fourth = Streams(server, tmp_path, publish)
    fourth.w.watch_pods_once(PYTORCH, "100", 5)
    fourth.w.watch_once(PYTORCH, "100", 5)
    assert read() == []
    keys = json.loads(json.dumps(c.configmap["data"]))[UID].partition("|")[2].split()
    assert [k.split("#")[0].split("@")[0] for k in keys] == ["Restarting"] * 3 + ["Failed"]


def test_the_operators_event_formats_are_read():
    """kubeflow/trainer v1.9.3 common/pod.go: Eventf(job, Normal, "ExitedWithCode", "Pod: %v.%v
    exited with code %v", ns, pod, code); kube-scheduler: "Successfully assigned ns/pod to node"."""
    job = {"kind": "PyTorchJob", "name": JOB, "uid": UID}
    llm = {"metadata": {"name": JOB}}
    events = [
        {"reason": "Scheduled", "involvedObject": {"kind": "Pod", "name": f"{JOB}-worker-2",
         "uid": "u1"}, "message": f"Successfully assigned {NS}/{JOB}-worker-2 to node-d",
         "lastTimestamp": "2026-11-25T09:00:30Z"},
        {"reason": "ExitedWithCode", "involvedObject": job, "lastTimestamp": "2026-11-25T09:20:06Z",
         "message": f"Pod: {NS}.{JOB}-worker-2 exited with code 137"},
        {"reason": "ExitedWithCode", "involvedObject": job, "lastTimestamp": "2026-11-25T09:20:06Z",
         "message": f"Pod: {NS}.{JOB}-master-0 exited with code 0"},
    ]  # fmt: skip
    [failed] = incidents.from_events(llm, NS, events, "pytorch", pytorchjob.exited)
    assert (failed.uid, failed.node, failed.exit_code) == ("u1", "node-d", 137)
    key = incidents.key(failed)
    assert key == f"Restarting#u1@{int(incidents.epoch('2026-11-25T09:20:06Z'))}"
    later = incidents.FailedPod("u2", "p", "", 200, failed.at + incidents.WINDOW_S - 1, {})
    much_later = incidents.FailedPod("u3", "p", "", 200, failed.at + incidents.WINDOW_S + 1, {})
    assert incidents.told([key], failed) and incidents.told([key], later)
    assert not incidents.told([key], much_later) and not incidents.told(["Failed"], later)
    # The deleted pod's events are found by its name, which only the job's own pods have.
    assert pytorchjob.names_pod(llm, f"{JOB}-worker-2") and pytorchjob.names_pod(
        llm, f"{JOB}-master-0"
    )
    assert not pytorchjob.names_pod(llm, f"{JOB}-big-master-0")
    many = [f"Restarting#u{n}@{n}" for n in range(30)]
    assert incidents.trimmed([*many, "Failed"]) == [*many[-incidents.KEEP_KEYS :], "Failed"]


def test_a_pod_failed_without_an_exit_code_is_a_restart_naming_its_node():
    """An evicted pod (or one whose node was lost) is Failed with no terminated container: the
    operator then reads its magic 0xbeef, >= 128, and recreates it (v1.9.3 common/pod.go)."""
    pod = {
        "metadata": {"name": f"{JOB}-worker-1", "uid": "u9",
                     "labels": {"training.kubeflow.org/replica-type": "worker"}},
        "spec": {"nodeName": "node-c"},
        "status": {"phase": "Failed", "reason": "Evicted", "containerStatuses": [
            {"name": "pytorch", "state": {"waiting": {"reason": "ContainerCreating"}}}]},
    }  # fmt: skip
    failed = incidents.failed_pod(pod, "pytorch")
    assert failed.exit_code == incidents.NO_EXIT_CODE and failed.at > 0
    assert failed.describe().startswith(f"pod {JOB}-worker-1 on node node-c failed (Evicted)")
    job = {"spec": {"pytorchReplicaSpecs": {"Worker": {"restartPolicy": "ExitCode"}}}}
    assert pytorchjob.retried(job, pod, failed.exit_code)
    assert not pytorchjob.retried(job, pod, 2)
    running = {**pod, "status": {"phase": "Running", "containerStatuses": []}}
    assert incidents.failed_pod(running, "pytorch") is None
