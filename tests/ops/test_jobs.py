"""`trainstack status` and `logs` (trainstack/ops/jobs.py) on a PyTorchJob, against a local HTTP
server that speaks the Kubernetes API: the job, its pods and events, rank 0's log; waiting for
rank 0, following its restarts, the job looked up in other namespaces. test_rayjob.py does the
same for a RayJob."""

from __future__ import annotations

import pytest
from fake_apiserver import FakeApiServer, from_routes, record_sleeps, serve, status
from jobs_support import (
    FAILED,
    JOB,
    NS,
    RUNNING,
    FakeTty,
    RecordedCause,
    condition,
    oom_killed_worker,
    pod,
    pytorchjob,
)
from kubernetes import client as k8s
from node_records import XID79, node

from jobwatch import diagnose as diagnose_module
from trainstack import cli
from trainstack.ops import pytorchjob as pytorch


@pytest.fixture(autouse=True)
def sleeps(monkeypatch):
    return record_sleeps(monkeypatch)


def event(name, reason, message, kind="Pod"):
    return k8s.CoreV1Event(
        metadata=k8s.V1ObjectMeta(name=f"{name}.1", namespace=NS),
        involved_object=k8s.V1ObjectReference(kind=kind, name=name, namespace=NS),
        reason=reason,
        message=message,
        type="Warning",
    )


MASTER_LOG = (
    "\n".join(
        [
            "trainer: preset small, 124.0M parameters, 8 rank(s) on cuda (nccl)",
            "trainer: resumed from /checkpoints/llm/checkpoints/step_00000100 (step 100, written by 8 "
            "rank(s))",
            "step 110/400 | loss 2.5000 | 50,000 tok/s (6,250/dev) | 40 TFLOP/s/dev | MFU 30.0% | "
            "data 1% | mem 20.00 GiB | ETA 0:29:00",
            "trainer: checkpoint /checkpoints/llm/checkpoints/step_00000200",
            "step 210/400 | loss 2.2000 | 51,000 tok/s (6,375/dev) | 40 TFLOP/s/dev | MFU 30.0% | "
            "data 1% | mem 20.00 GiB | ETA 0:19:00",
            "RuntimeError: NCCL communicator was aborted on rank 0.",
        ]
    )
    + "\n"
)


WAITING = f'container "pytorch" in pod "{JOB}-master-0" is waiting to start: ContainerCreating'


SUCCEEDED = pytorchjob(
    RUNNING["status"]["conditions"]
    + [
        condition(
            "Succeeded",
            "True",
            "2026-11-25T10:10:00Z",
            f"PyTorchJob {NS}/{JOB} successfully completed.",
        )
    ],
    {"Master": {"succeeded": 1}, "Worker": {"succeeded": 1}},
)


def rank0(container_id, state):
    """Rank 0's pod as `logs -f` reads it between streams: which container, in which state."""
    found = pod("master", 0, state=state)
    found.status.container_statuses[0].container_id = container_id
    return found


RUNNING_STATE = k8s.V1ContainerState(running=k8s.V1ContainerStateRunning())


CRASHED_STATE = k8s.V1ContainerState(
    terminated=k8s.V1ContainerStateTerminated(exit_code=1, reason="Error")
)


class FakeApi(FakeApiServer):
    """The job, its pods and events from recorded objects; rank 0's log as text/plain, or
    refused as the API does before the container starts.

    Log reads take `logs` in turn (the last repeats); after `jobs_after_logs[i]`'s log read the
    job reads as that (default: Succeeded after the first, as a finished log means a finished
    rank 0). Reads of rank 0's pod take `rank0_pods` in turn (the last repeats)."""

    def __init__(
        self,
        job,
        pods,
        events,
        log=MASTER_LOG,
        logs=None,
        jobs_after_logs=None,
        rank0_pods=None,
        nodes=(),
    ):
        base = f"/apis/kubeflow.org/v1/namespaces/{NS}/pytorchjobs"
        job_path = f"{base}/{JOB}"
        objects = from_routes(
            {
                job_path: job,
                f"/api/v1/namespaces/{NS}/pods": k8s.V1PodList(items=pods),
                f"/api/v1/namespaces/{NS}/events": k8s.CoreV1EventList(items=events),
                # The pods' Node objects (JSON), read when status names a cause.
                **{f"/api/v1/nodes/{n['metadata']['name']}": n for n in nodes},
            }
        )
        logs = logs or [log]
        later = [from_routes({job_path: j}) for j in (jobs_after_logs or [SUCCEEDED])]
        pod_path = f"/api/v1/namespaces/{NS}/pods/{pytorch.log_pod_name(job)}"
        rank0_answers = [from_routes({pod_path: p}) for p in rank0_pods or []]
        self.log_reads = 0
        self.log_refusals = 0  # answer this many log reads as the API does before a start

        def answer(path, query):
            if path == job_path and self.log_reads:
                return later[min(self.log_reads, len(later)) - 1](path, query)
            if path == pod_path and rank0_answers:
                return (rank0_answers.pop(0) if len(rank0_answers) > 1 else rank0_answers[0])(
                    path, query
                )
            if path != pod_path + "/log":
                return objects(path, query)
            if self.log_refusals:
                self.log_refusals -= 1
                return status(400, "BadRequest", WAITING)
            self.log_reads += 1
            return 200, logs[min(self.log_reads, len(logs)) - 1].encode(), "text/plain"

        super().__init__(answer)


@pytest.fixture
def fake_api():
    yield from serve(FakeApi)


def test_status_command_on_a_running_job(fake_api, tmp_path, capsys):
    api = fake_api(RUNNING, [pod("master", 0), pod("worker", 0)], [])
    code = cli.main(["status", JOB, "--kubeconfig", api.kubeconfig(tmp_path / "k")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "newest checkpoint: step 200 (/checkpoints/llm/checkpoints/step_00000200)" in out
    assert "progress: step 210/400" in out and "51,000 tok/s" in out
    pods_query = next(q for p, q in api.requests if p.endswith("/pods"))
    assert pods_query["labelSelector"] == [f"{pytorch.JOB_LABEL}={JOB}"]


def test_status_command_on_a_failed_job_runs_the_classifier(
    fake_api, tmp_path, capsys, monkeypatch
):
    pods = [pod("master", 0), oom_killed_worker()]
    events = [
        event(f"{JOB}-worker-0", "BackOff", "Back-off restarting failed container"),
        event("some-other-pod", "Pulled", "ignored"),
        event(JOB, "PyTorchJobFailed", "failed", kind="PyTorchJob"),
    ]
    api = fake_api(FAILED, pods, events)
    seen = {}

    def classify(pod_dicts, event_dicts, log_tail, namespace, nodes):
        seen.update(pods=pod_dicts, events=event_dicts, tail=log_tail, namespace=namespace)
        seen.update(nodes=nodes)
        return [RecordedCause("oom", "worker 0 was OOMKilled", "raise memory")]

    # Stands in for the shared classifier whatever its state: this test is about what status
    # hands it and prints from it; test_status_with_the_real_classifier runs the real one.
    # (Only classify is replaced: the CLI's parser reads diagnose's own options from the module.)
    monkeypatch.setattr(diagnose_module, "classify", classify)
    code = cli.main(["status", JOB, "-n", NS, "--kubeconfig", api.kubeconfig(tmp_path / "k")])
    out = capsys.readouterr().out
    assert code == 1
    assert "[oom] worker 0 was OOMKilled" in out and "remedy: raise memory" in out
    # The classifier gets the API's JSON (camelCase), only this job's events, and the log tail.
    worker = next(p for p in seen["pods"] if p["metadata"]["name"] == f"{JOB}-worker-0")
    assert (
        worker["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"] == "OOMKilled"
    )
    assert sorted(e["involvedObject"]["name"] for e in seen["events"]) == [JOB, f"{JOB}-worker-0"]
    assert seen["tail"].endswith("NCCL communicator was aborted on rank 0.")
    assert seen["namespace"] == NS  # the job's, for the kubectl commands in remedies
    assert seen["nodes"] == []  # the pods' node was looked up: this API server has none


def test_status_with_the_real_classifier(fake_api, tmp_path, capsys):
    """The shared classifier on recorded objects: the worker's OOMKill is found in the pod JSON
    status builds, and its remedy and evidence are printed."""
    from jobwatch import diagnose

    pods = [pod("master", 0), oom_killed_worker()]
    api = fake_api(FAILED, pods, [event(f"{JOB}-worker-0", "BackOff", "Back-off restarting")])
    assert cli.main(["status", JOB, "--kubeconfig", api.kubeconfig(tmp_path / "k")]) == 1
    out = capsys.readouterr().out
    causes = out[out.index("diagnosis:") :]
    assert "[OOM_KILLED]" in causes and "trainingJobs.<job>.memory" in causes
    assert "seen: " in causes and f"{JOB}-worker-0" in causes
    assert "OOM_KILLED" in diagnose.CODES


def test_status_names_the_gpu_fault_of_the_node_a_pod_failed_on(fake_api, tmp_path, capsys):
    """The worker crashed on a node whose GPU fell off the bus: status reads the node and names
    its condition before the timeouts the crash caused."""
    worker = oom_killed_worker()
    faulty = node(worker.spec.node_name, XID79)
    api = fake_api(FAILED, [pod("master", 0), worker], [], nodes=[faulty])
    assert cli.main(["status", JOB, "--kubeconfig", api.kubeconfig(tmp_path / "k")]) == 1
    out = capsys.readouterr().out
    causes = out[out.index("diagnosis:") :]
    assert causes.index("[NODE_UNHEALTHY]") < causes.index("[OOM_KILLED]")
    assert "AcceleratedHardwareReady False" in causes and "NvidiaXID79Error" in causes
    assert (f"/api/v1/nodes/{worker.spec.node_name}", {}) in api.requests


def test_missing_job_is_one_line(fake_api, tmp_path, capsys):
    api = fake_api(RUNNING, [], [])
    assert cli.main(["status", "nope", "--kubeconfig", api.kubeconfig(tmp_path / "k")]) == 1
    err = capsys.readouterr().err
    assert f"no PyTorchJob or RayJob or TrainJob {NS}/nope" in err
    assert "jobsNamespace needs -n" in err
    # Every kind a trainingJobs entry renders as was asked for, here and then anywhere.
    assert [p for p, _ in api.requests] == [
        f"/apis/kubeflow.org/v1/namespaces/{NS}/pytorchjobs/nope",
        f"/apis/ray.io/v1/namespaces/{NS}/rayjobs/nope",
        f"/apis/trainer.kubeflow.org/v1alpha1/namespaces/{NS}/trainjobs/nope",
        "/apis/kubeflow.org/v1/pytorchjobs",
        "/apis/ray.io/v1/rayjobs",
        "/apis/trainer.kubeflow.org/v1alpha1/trainjobs",
    ]
    assert "kubectl get pytorchjobs,rayjobs,trainjobs -A" in err  # nothing found elsewhere


def test_a_job_in_another_namespace_is_pointed_to(tmp_path, capsys):
    """The cluster-wide lists (filtered by name, as the API server does) find the job in the
    namespace a stack's jobsNamespace put it in."""
    elsewhere = pytorchjob([], {})
    elsewhere["metadata"]["namespace"] = "ml"

    def answer(path, query):
        if path == "/apis/kubeflow.org/v1/pytorchjobs":
            wanted = query["fieldSelector"] == [f"metadata.name={JOB}"]
            return from_routes(
                {
                    path: {
                        "apiVersion": "kubeflow.org/v1",
                        "kind": "PyTorchJobList",
                        "items": [elsewhere] if wanted else [],
                    }
                }
            )(path, query)
        return status(404, "NotFound")

    api = FakeApiServer(answer)
    try:
        code = cli.main(["logs", JOB, "--kubeconfig", api.kubeconfig(tmp_path / "k")])
    finally:
        api.close()
    assert code == 1
    err = capsys.readouterr().err
    found = (
        f"no PyTorchJob or RayJob or TrainJob {NS}/{JOB} (there is PyTorchJob ml/{JOB}: add -n ml)"
    )
    assert found in err


def test_no_kubeconfig(tmp_path, capsys):
    assert cli.main(["status", JOB, "--kubeconfig", str(tmp_path / "absent")]) == 1
    assert "aws eks update-kubeconfig" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text, wrong",
    [
        ("- apiVersion: v1\n- kind: Config\n", "holds a YAML list, not the mapping"),
        ("just a string\n", "holds a YAML string, not the mapping"),
        ("clusters: [\n", "is not valid YAML: expected the node content"),
    ],
)
def test_kubeconfig_that_is_not_a_mapping_is_one_line(tmp_path, capsys, text, wrong):
    """The kubernetes client (35.0.0 kube_config.py, KubeConfigMerger.load_config) indexes each
    file's YAML as a mapping and fails inside with a TypeError; the file is named instead."""
    from trainstack.ops import kube

    config = tmp_path / "config"
    config.write_text(text)
    assert cli.main(["status", JOB, "--kubeconfig", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"trainstack status: kubeconfig {config} ")
    assert wrong in err and "fix: " in err
    # doctor reads the same files to find the cluster's context
    with pytest.raises(kube.KubeConfigError, match=wrong.split(":")[0]):
        kube.api_client(cluster="llm", region="us-west-2", kubeconfig=str(config))


@pytest.mark.parametrize("follow", [False, True])
def test_logs_command_passes_lines_through_when_piped(fake_api, tmp_path, capsys, follow):
    api = fake_api(pytorchjob([], {}, elastic=True), [], [])
    argv = ["logs", JOB, "--kubeconfig", api.kubeconfig(tmp_path / "k")] + (
        ["-f"] if follow else []
    )
    assert cli.main(argv) == 0
    assert capsys.readouterr().out == MASTER_LOG
    ((path, query),) = [(p, q) for p, q in api.requests if p.endswith("/log")]
    assert path.endswith(f"/pods/{JOB}-worker-0/log")  # elastic: rank 0 is worker 0
    assert query["container"] == ["pytorch"]
    # The client sends Python's spelling, which the API server's ParseBool accepts.
    assert [v.lower() for v in query.get("follow", [])] == (["true"] if follow else [])


def test_logs_on_a_terminal_draw_the_bar(fake_api, tmp_path, monkeypatch):
    api = fake_api(RUNNING, [], [])
    out = FakeTty()
    monkeypatch.setattr("sys.stdout", out)
    assert cli.main(["logs", JOB, "--kubeconfig", api.kubeconfig(tmp_path / "k")]) == 0
    text = out.getvalue()
    assert "step 210/400 [" in text and "| 51,000 tok/s | ETA 0:19:00" in text
    assert "loss 2.5000 | 50,000 tok/s (6,250/dev)" not in text  # the raw step line is not shown
    assert "trainer: checkpoint /checkpoints/llm/checkpoints/step_00000200\n" in text


def test_logs_follow_waits_for_rank0_to_start(fake_api, tmp_path, capsys):
    api = fake_api(RUNNING, [], [])
    api.log_refusals = 2
    argv = ["logs", JOB, "-f", "--kubeconfig", api.kubeconfig(tmp_path / "k")]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out == MASTER_LOG
    # Said once, not on every poll.
    assert captured.err.count(f"waiting for {JOB}-master-0: {WAITING}") == 1


def test_logs_of_a_pod_that_has_not_started(fake_api, tmp_path, capsys):
    api = fake_api(RUNNING, [], [])
    api.log_refusals = 1
    assert cli.main(["logs", JOB, "--kubeconfig", api.kubeconfig(tmp_path / "k")]) == 1
    err = capsys.readouterr().err
    assert WAITING in err and f"trainstack status {JOB}" in err


RESUMED_LOG = (
    "\n".join(
        [
            "trainer: resumed from /checkpoints/llm/checkpoints/step_00000200 (step 200, written by 8 "
            "rank(s))",
            "step 400/400 | loss 1.9000 | 51,000 tok/s (6,375/dev) | 40 TFLOP/s/dev | MFU 30.0% | "
            "data 1% | mem 20.00 GiB | ETA 0:00:00",
        ]
    )
    + "\n"
)


def test_logs_follow_the_restarted_container_until_the_job_ends(fake_api, tmp_path, capsys, sleeps):
    """Rank 0 crashes (the NCCL abort ending MASTER_LOG), restartPolicy OnFailure starts a new
    container in the same pod, which resumes; -f shows both and ends with the job."""
    api = fake_api(
        RUNNING,
        [],
        [],
        logs=[MASTER_LOG, RESUMED_LOG],
        jobs_after_logs=[RUNNING, SUCCEEDED],
        rank0_pods=[
            rank0("containerd://a", RUNNING_STATE),
            rank0("containerd://a", CRASHED_STATE),
            rank0("containerd://b", RUNNING_STATE),
        ],
    )
    argv = ["logs", JOB, "-f", "--kubeconfig", api.kubeconfig(tmp_path / "k")]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out == MASTER_LOG + RESUMED_LOG  # each container's lines once
    assert captured.err.count("waiting for") == 1, captured.err
    assert (
        f"waiting for {JOB}-master-0: its container ended (exit 1) and the job is still "
        "Running" in captured.err
    )
    assert len(sleeps) == 1


def test_logs_follow_ends_with_the_jobs_failure(fake_api, tmp_path, capsys, sleeps):
    failed_after = pytorchjob(FAILED["status"]["conditions"], {"Master": {"failed": 1}})
    api = fake_api(
        RUNNING,
        [],
        [],
        jobs_after_logs=[failed_after],
        rank0_pods=[rank0("containerd://a", RUNNING_STATE)],
    )
    assert cli.main(["logs", JOB, "-f", "--kubeconfig", api.kubeconfig(tmp_path / "k")]) == 1
    assert capsys.readouterr().out == MASTER_LOG and sleeps == []


def test_logs_follow_catches_up_after_a_cut_connection(fake_api, tmp_path, capsys, sleeps):
    """The API server closed the stream while the same container runs on: reattach from
    shortly before the cut instead of replaying the whole log or waiting for a restart."""
    api = fake_api(
        RUNNING,
        [],
        [],
        logs=[MASTER_LOG, RESUMED_LOG],
        jobs_after_logs=[RUNNING, SUCCEEDED],
        rank0_pods=[rank0("containerd://a", RUNNING_STATE)],
    )
    assert cli.main(["logs", JOB, "-f", "--kubeconfig", api.kubeconfig(tmp_path / "k")]) == 0
    assert capsys.readouterr().out == MASTER_LOG + RESUMED_LOG and sleeps == []
    first, second = [q for p, q in api.requests if p.endswith("/log")]
    assert "sinceSeconds" not in first and int(second["sinceSeconds"][0]) >= 1
