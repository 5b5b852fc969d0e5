"""`trainstack status` / `logs`, the watcher's kind row and the classifier on a TrainJob
(`framework: trainjob`): the TrainJob trainstack renders, with status as Kubeflow Trainer v2.2.1
writes it (pkg/apis/trainer/v1alpha1/trainjob_types.go: conditions Suspended, Complete, Failed,
copied from the JobSet's; jobsStatus per replicated job) and pods labelled as JobSet v0.11.0
and the Job controller label them, served by a local API server that filters pods by label
selector as the real one does."""

from __future__ import annotations

import pytest
from fake_apiserver import FakeApiServer, from_routes, matches, record_sleeps, serve
from job_support import rendered_trainjob, runtime_pod
from kubernetes import client as k8s

from jobwatch import kinds, notify
from jobwatch import trainjob as state
from jobwatch.diagnose import classify
from trainstack import cli

NS, JOB = "training", "llm"
T0, T1, T2 = "2026-11-25T09:00:00Z", "2026-11-25T09:03:10Z", "2026-11-25T09:40:00Z"
# What trainer.launch and the trainer print on rank 0 (trainer/logline.py's formats).
LOG = (
    "step 2/4 | loss 5.8723 | 5,096 tok/s (2,548/dev) | 0.00213 TFLOP/s/dev | MFU 2.1% | "
    "data 0% | mem 0.47 GiB | ETA 0:00:00\n"
    "trainer: checkpoint /checkpoints/llm/checkpoints/step_00000002\n"
)
RESUMED = {
    "type": "Suspended",
    "status": "False",
    "reason": "Resumed",
    "message": "TrainJob is resumed",
    "lastTransitionTime": T1,
}


@pytest.fixture(autouse=True)
def sleeps(monkeypatch):
    return record_sleeps(monkeypatch)


def trainjob(conditions: list[dict], **node_counts: int) -> dict:
    """The TrainJob trainstack renders for a 2-node job, with a recorded Trainer status."""
    _, job = rendered_trainjob(JOB, nodes=2)
    counts = {"ready": 0, "succeeded": 0, "failed": 0, "active": 0, "suspended": 0}
    job["status"] = {
        "conditions": conditions,
        "jobsStatus": [{"name": "node", **counts, **node_counts}],
    }
    return job


RUNNING = trainjob([RESUMED], ready=2, active=2)
# What the node container runs: the runtime's command (trainer.launch, then the trainer).
COMMAND = runtime_pod(rendered_trainjob(JOB, nodes=2)[0])["spec"]["containers"][0]["command"]
FAILED = trainjob(
    [
        RESUMED,
        {
            "type": "Failed",
            "status": "True",
            "reason": "FailedJobs",  # JobSet v0.11.0 pkg/constants FailedJobsReason
            "message": "jobset failed due to one or more job failures",
            "lastTransitionTime": T2,
        },
    ],
    failed=1,
)


def node_pod(index: int, suffix: str, *, created=T1, exit_code: int | None = None) -> k8s.V1Pod:
    """A pod of the TrainJob's `node` Job (`<trainjob>-node-0`, an indexed Job): JobSet's labels
    (api/jobset/v1alpha2/jobset_types.go, controllers/jobset_controller.go
    labelAndAnnotateObject), the Job controller's, and the runtime's own (the stack's)."""
    labels = {
        "jobset.sigs.k8s.io/jobset-name": JOB,
        "jobset.sigs.k8s.io/jobset-uid": "6d3f2c1e-0000-4000-8000-000000000001",
        "jobset.sigs.k8s.io/replicatedjob-name": "node",
        "jobset.sigs.k8s.io/replicatedjob-replicas": "1",
        "jobset.sigs.k8s.io/global-replicas": "1",
        "jobset.sigs.k8s.io/job-index": "0",
        "jobset.sigs.k8s.io/job-global-index": "0",
        "jobset.sigs.k8s.io/job-key": "8b6f0f7c2a0e4d1b9c3a5e7f1d2b4c6a8e0f2a4c",
        "jobset.sigs.k8s.io/restart-attempt": "0",
        "batch.kubernetes.io/job-completion-index": str(index),
        "batch.kubernetes.io/job-name": f"{JOB}-node-0",
        "job-name": f"{JOB}-node-0",
        "trainstack.io/job": JOB,
        "trainstack.io/role": "trainjob",
    }
    if exit_code is None:
        state_ = k8s.V1ContainerState(running=k8s.V1ContainerStateRunning())
        phase = "Running"
    else:
        state_ = k8s.V1ContainerState(
            terminated=k8s.V1ContainerStateTerminated(exit_code=exit_code, reason="Error")
        )
        phase = "Failed"
    status = k8s.V1ContainerStatus(
        name="node", image="ecr/trainer@sha256:ab", image_id="", ready=exit_code is None,
        restart_count=0, state=state_,
    )  # fmt: skip
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(
            name=f"{JOB}-node-0-{index}-{suffix}",
            namespace=NS,
            labels=labels,
            creation_timestamp=created,
        ),
        spec=k8s.V1PodSpec(
            node_name=f"ip-10-0-1-{5 + index}.us-west-2.compute.internal",
            containers=[k8s.V1Container(name="node", command=COMMAND)],
        ),
        status=k8s.V1PodStatus(phase=phase, container_statuses=[status]),
    )


class FakeTrainJobApi(FakeApiServer):
    """The TrainJob (no PyTorchJob or RayJob of the name), its pods filtered by label selector,
    and one log per pod."""

    def __init__(self, job: dict, pods: list, logs: dict[str, str]):
        raw = [k8s.ApiClient().sanitize_for_serialization(p) for p in pods]
        objects = from_routes(
            {
                f"/apis/{state.GROUP}/{state.VERSION}/namespaces/{NS}/{state.PLURAL}/{JOB}": job,
                f"/api/v1/namespaces/{NS}/events": k8s.CoreV1EventList(items=[]),
                **{f"/api/v1/namespaces/{NS}/pods/{p['metadata']['name']}": p for p in raw},
            }
        )

        def answer(path, query):
            if path == f"/api/v1/namespaces/{NS}/pods":
                items = [p for p in raw if matches(p["metadata"].get("labels"), query)]
                body = {"kind": "PodList", "apiVersion": "v1", "items": items}
                return from_routes({path: body})(path, query)
            if path.endswith("/log"):
                return 200, logs[path.split("/")[-2]].encode(), "text/plain"
            return objects(path, query)

        super().__init__(answer)


@pytest.fixture
def fake_api():
    yield from serve(FakeTrainJobApi)


def test_status_of_a_running_trainjob_reads_node_0s_newest_pod(fake_api, tmp_path, capsys):
    # Node 0's first pod was killed (137, retried: its Job made a new one); node 1 runs.
    pods = [
        node_pod(0, "a1b2c", created=T0, exit_code=137),
        node_pod(0, "d3e4f", created=T1),
        node_pod(1, "g5h6i", created=T0),
    ]
    api = fake_api(RUNNING, pods, {f"{JOB}-node-0-0-d3e4f": LOG})
    code = cli.main(["status", JOB, "--kubeconfig", api.kubeconfig(tmp_path / "k")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith(f"TrainJob {NS}/{JOB}: Running")
    assert "progress: step 2/4" in out and "newest checkpoint: step 2" in out
    assert "Suspended=False Resumed: TrainJob is resumed" in out
    jobs = out[out.index("replicated jobs:") :]
    assert "node: 2 wanted (active 2, ready 2)" in jobs
    assert jobs.index(f"{JOB}-node-0-0-a1b2c") < jobs.index(f"{JOB}-node-0-1-g5h6i")
    log_path, query = next((p, q) for p, q in api.requests if p.endswith("/log"))
    assert log_path.endswith(f"/pods/{JOB}-node-0-0-d3e4f/log") and query["container"] == ["node"]
    selectors = {q["labelSelector"][0] for p, q in api.requests if p.endswith("/pods")}
    assert selectors == {f"jobset.sigs.k8s.io/jobset-name={JOB}"}


def test_a_failed_trainjob_exits_1_and_names_the_permanent_exit(fake_api, tmp_path, capsys):
    pods = [node_pod(0, "a1b2c", exit_code=2), node_pod(1, "g5h6i")]
    api = fake_api(FAILED, pods, {f"{JOB}-node-0-0-a1b2c": LOG + "trainer: error: bad option\n"})
    assert cli.main(["status", JOB, "--kubeconfig", api.kubeconfig(tmp_path / "k")]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"TrainJob {NS}/{JOB}: Failed")
    assert "Failed=True FailedJobs: jobset failed due to one or more job failures" in out
    assert "[PERMANENT_EXIT]" in out[out.index("diagnosis:") :]


def test_logs_of_a_trainjob_are_node_0s(fake_api, tmp_path, capsys):
    api = fake_api(
        RUNNING, [node_pod(0, "d3e4f"), node_pod(1, "g5h6i")], {f"{JOB}-node-0-0-d3e4f": LOG}
    )
    assert cli.main(["logs", JOB, "--kubeconfig", api.kubeconfig(tmp_path / "k")]) == 0
    assert capsys.readouterr().out == LOG


def test_the_trainers_states_and_notices():
    suspended = trainjob(
        [{"type": "Suspended", "status": "True", "reason": "Suspended", "lastTransitionTime": T0}]
    )
    assert state.phase(suspended) == "Suspended" and state.notice(suspended) is None
    assert state.phase(trainjob([RESUMED])) == "Pending"  # resumed, no pod active yet
    assert state.phase(RUNNING) == "Running" and state.notice(RUNNING) is None
    complete = trainjob(
        [RESUMED, {"type": "Complete", "status": "True", "reason": "AllJobsCompleted",
                   "message": "jobset completed successfully", "lastTransitionTime": T2}],
        succeeded=2,
    )  # fmt: skip
    assert (state.phase(complete), state.notice(complete)) == ("Complete", "Succeeded")
    assert (state.phase(FAILED), state.notice(FAILED)) == ("Failed", "Failed")
    assert state.ended_at(FAILED) == T2 and state.ended_at(RUNNING) == ""
    deadline = trainjob(
        [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
          "message": "TrainJob exceeded its active deadline", "lastTransitionTime": T2}]
    )  # fmt: skip
    assert (
        state.final_message(deadline) == "DeadlineExceeded: TrainJob exceeded its active deadline"
    )
    assert notify.WHAT["Failed"] and notify.WHAT["Succeeded"]


def test_the_watchers_row_follows_the_jobset_pods():
    (row,) = [k for k in kinds.KINDS if k.kind == "TrainJob"]
    pod = k8s.ApiClient().sanitize_for_serialization(node_pod(1, "g5h6i"))
    assert row.job_of_pod(pod) == JOB and row.pod_label in pod["metadata"]["labels"]
    assert row.names_pod(RUNNING, f"{JOB}-node-0-1-g5h6i")
    assert not row.names_pod(RUNNING, f"{JOB}x-node-0-1-g5h6i")
    assert row.log_source(RUNNING, [node_pod(1, "g5h6i"), node_pod(0, "d3e4f")]) == (
        f"{JOB}-node-0-0-d3e4f",
        "node",
    )
    assert row.log_source(RUNNING, []) is None
    assert row.retried(RUNNING, pod, 137) and not row.retried(RUNNING, pod, 2)
    assert not row.previous_logs and row.running(RUNNING) and not row.running(FAILED)


def test_a_foreign_script_in_a_trainjob_is_told_its_exit_code_policy():
    """A job's own script under trainer.launch exiting 1 inside a TrainJob's `node`: the
    policy named is the runtime's podFailurePolicy, on the PyTorchJob's line."""
    pod = k8s.ApiClient().sanitize_for_serialization(node_pod(0, "a1b2c", exit_code=1))
    pod["spec"]["containers"][0]["command"] = ["python", "-m", "trainer.launch", "train.py"]
    (cause,) = classify([pod], [], "")
    assert cause.code == "CONTAINER_FAILED"
    assert "podFailurePolicy of the stack's TrainingRuntime" in cause.remedy
    assert "1-127 fails the job at once" in cause.remedy
