"""`trainstack status` / `logs` on a RayJob (`framework: ray`): the job trainstack renders, with
recorded KubeRay status, RayCluster and submitter pods, served by a local API server that
filters pods by label selector as the real one does."""

from __future__ import annotations

import copy

import pytest
from fake_apiserver import FakeApiServer, from_routes, matches, record_sleeps, serve
from job_support import SMALL_BATCH, rendered
from kubernetes import client as k8s

from jobwatch import rayjob as ray_state
from trainstack import cli

NS, JOB = "training", "llm-ray"
CLUSTER = f"{JOB}-raycluster-x7k2p"
T0 = "2026-11-25T09:00:00Z"
ESC = "\x1b"


@pytest.fixture(autouse=True)
def sleeps(monkeypatch):
    return record_sleeps(monkeypatch)


# The driver output of `python -m trainer.ray_train` on a local 2-worker Ray run (colour codes
# and all, as Ray writes them to a file), behind what `ray job submit` prints as it tails it.
SUBMITTER_LOG = (
    "\n".join(
        [
            f"Job submission server address: http://{CLUSTER}-head-svc.{NS}.svc.cluster.local:8265",
            "-------------------------------------------------------",
            f"Job '{JOB}-8xq2m' submitted successfully",
            "-------------------------------------------------------",
            "Tailing logs until the job exits (disable with --no-wait):",
            f"{ESC}[36m(RayTrainWorker pid=16960){ESC}[0m Setting up process group for: env:// "
            "[rank=0, world_size=2]",
            f"{ESC}[36m(RayTrainWorker pid=16960){ESC}[0m step 2/4 | loss 5.8723 | 5,096 tok/s "
            "(2,548/dev) | 0.00213 TFLOP/s/dev | MFU 2.1% | data 0% | mem 0.47 GiB | ETA 0:00:00",
            f"{ESC}[36m(RayTrainWorker pid=16960){ESC}[0m trainer: checkpoint "
            "/checkpoints/llm-ray/checkpoints/step_00000002",
            f"{ESC}[36m(RayTrainWorker pid=16960){ESC}[0m step 3/4 | loss 5.6102 | 18,696 tok/s "
            "(9,348/dev) | 0.00781 TFLOP/s/dev | MFU 7.7% | data 3% | mem 0.47 GiB | ETA 0:00:00",
        ]
    )
    + "\n"
)

# What Ray reports when the entrypoint fails: KubeRay copies it into status.message.
CUDA_OOM_MESSAGE = (
    "Job entrypoint command failed with exit code 1, last available logs (truncated to 20,000 "
    "chars):\n(RayTrainWorker pid=311, ip=10.0.2.9) torch.OutOfMemoryError: CUDA out of memory. "
    "Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 22.06 GiB of which 1.10 GiB is "
    "free.\ntrainer.ray_train: the workers failed more than --max-failures 3 time(s)"
)


def rayjob(deployment, job_status, *, cluster=CLUSTER, ready=2, **status) -> dict:
    """The RayJob trainstack renders for a 2-node ray job, with a recorded KubeRay status."""
    job = rendered(JOB, framework="ray", nodePool="large", gpusPerNode=4, args=SMALL_BATCH, nodes=2)
    job["metadata"]["namespace"] = NS
    job["status"] = {
        "jobDeploymentStatus": deployment,
        "jobStatus": job_status,
        "startTime": T0,
        **status,
    }
    if cluster:
        job["status"].update(
            rayClusterName=cluster,
            rayClusterStatus={
                "state": "ready" if ready == 2 else None,
                "readyWorkerReplicas": ready,
                "desiredWorkerReplicas": 2,
            },
        )
    return job


def ray_pod(
    name, labels, *, phase="Running", created=T0, state=None, restarts=0, container="ray-worker"
):
    running = k8s.V1ContainerState(running=k8s.V1ContainerStateRunning())
    status = k8s.V1ContainerStatus(
        name=container,
        image="ecr/trainer@sha256:ab",
        image_id="",
        ready=phase == "Running",
        restart_count=restarts,
        state=state or running,
    )
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(
            name=name, namespace=NS, labels=labels, creation_timestamp=created
        ),
        spec=k8s.V1PodSpec(
            node_name="ip-10-0-1-5.us-west-2.compute.internal",
            containers=[k8s.V1Container(name=container)],
        ),
        status=k8s.V1PodStatus(phase=phase, container_statuses=[status]),
    )


def cluster_pods() -> list:
    head = ray_pod(
        f"{CLUSTER}-head-9dfgh",
        {
            ray_state.CLUSTER_LABEL: CLUSTER,
            ray_state.GROUP_LABEL: ray_state.HEAD_GROUP,
            "ray.io/node-type": "head",
        },
        container="ray-head",
    )
    workers = [
        ray_pod(
            f"{CLUSTER}-gpu-worker-{s}",
            {
                ray_state.CLUSTER_LABEL: CLUSTER,
                ray_state.GROUP_LABEL: "gpu",
                "ray.io/node-type": "worker",
            },
        )
        for s in ("b2x4k", "q8w3z")
    ]
    return [head, *workers]


def submitter(suffix, created=T0, **kw):
    labels = {
        ray_state.SUBMITTER_LABEL: JOB,
        "job-name": JOB,
        "ray.io/originated-from-cr-name": JOB,
    }
    return ray_pod(f"{JOB}-{suffix}", labels, created=created, container="ray-job-submitter", **kw)


class FakeRayApi(FakeApiServer):
    """No PyTorchJob of the name, the RayJob, pods filtered by label selector, and the
    submitter's log. `hidden_submitter_lists` pod listings see no submitter yet, and the RayJob
    reads as `initializing` until it appears; once the log has been read to its end the RayJob
    reads as Complete, as the submitter's end means the Ray job's."""

    def __init__(self, job, pods, log=SUBMITTER_LOG, initializing=None):
        job_path = f"/apis/ray.io/v1/namespaces/{NS}/rayjobs/{JOB}"
        done = copy.deepcopy(job)
        done["status"].update(jobDeploymentStatus="Complete", jobStatus="SUCCEEDED")
        objects = from_routes(
            {job_path: job, f"/api/v1/namespaces/{NS}/events": k8s.CoreV1EventList(items=[])}
        )
        raw = [k8s.ApiClient().sanitize_for_serialization(p) for p in pods]
        by_path = from_routes(
            {f"/api/v1/namespaces/{NS}/pods/{p['metadata']['name']}": p for p in raw}
        )
        self.hidden_submitter_lists = 0
        self.log_reads = 0
        early = from_routes({job_path: initializing})
        late = from_routes({job_path: done})

        def answer(path, query):
            if path == job_path and self.log_reads:
                return late(path, query)
            if path.startswith(f"/api/v1/namespaces/{NS}/pods/") and "/log" not in path:
                return by_path(path, query)
            if path == f"/api/v1/namespaces/{NS}/pods":
                items = [p for p in raw if matches(p["metadata"].get("labels"), query)]
                if (
                    any(ray_state.SUBMITTER_LABEL in s for s in query["labelSelector"])
                    and self.hidden_submitter_lists
                ):
                    self.hidden_submitter_lists -= 1
                    items = []
                return from_routes({path: {"kind": "PodList", "apiVersion": "v1", "items": items}})(
                    path, query
                )
            if path.endswith("/log"):
                self.log_reads += 1
                return 200, log.encode(), "text/plain"
            if initializing is not None and self.hidden_submitter_lists and "rayjobs" in path:
                return early(path, query)
            return objects(path, query)

        super().__init__(answer)


@pytest.fixture
def fake_ray_api():
    yield from serve(FakeRayApi)


def test_status_of_a_running_rayjob(fake_ray_api, tmp_path, capsys):
    # The first submitter failed (the Ray dashboard was not answering yet); the Job retried.
    exited = k8s.V1ContainerState(
        terminated=k8s.V1ContainerStateTerminated(exit_code=1, reason="Error")
    )
    pods = cluster_pods() + [
        submitter("old1", created="2026-11-25T09:01:00Z", phase="Failed", state=exited),
        submitter("new2", created="2026-11-25T09:05:00Z"),
    ]
    api = fake_ray_api(rayjob("Running", "RUNNING"), pods)
    code = cli.main(["status", JOB, "--kubeconfig", api.kubeconfig(tmp_path / "k")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith(f"RayJob {NS}/{JOB}: Running (Ray job RUNNING)")
    # Rank 0's lines arrive through the submitter, behind Ray's coloured worker prefix.
    assert "progress: step 3/4" in out and "18,696 tok/s" in out
    assert "newest checkpoint: step 2 (/checkpoints/llm-ray/checkpoints/step_00000002)" in out
    assert f"RayCluster {CLUSTER}: ready, workers 2/2 ready" in out
    # Pods under the groups the rendered spec declares, the submitter apart.
    groups = out[out.index("pods:") :]
    assert groups.index("head: 1 wanted") < groups.index(f"{CLUSTER}-head-9dfgh")
    assert groups.index("workers gpu: 2 wanted") < groups.index(f"{CLUSTER}-gpu-worker-b2x4k")
    assert groups.index("submitter:") < groups.index(f"{JOB}-new2")
    # The newest submitter's log was read, from KubeRay's submitter container.
    log_path, query = next((p, q) for p, q in api.requests if p.endswith("/log"))
    assert log_path.endswith(f"/pods/{JOB}-new2/log")
    assert query["container"] == ["ray-job-submitter"]
    selectors = sorted(q["labelSelector"][0] for p, q in api.requests if p.endswith("/pods"))
    assert selectors == [f"{ray_state.SUBMITTER_LABEL}={JOB}", f"ray.io/cluster={CLUSTER}"]
    # The failed first submitter is shown as a problem, which runs the classifier.
    assert "<- Failed: exited 1 (Error)" in out.split(f"{JOB}-old1")[1].splitlines()[0]
    assert "diagnosis" in out


def test_failed_rayjob_is_diagnosed_from_rays_message_after_its_pods_are_gone(
    fake_ray_api, tmp_path, capsys
):
    job = rayjob(
        "Failed",
        "FAILED",
        reason="AppFailed",
        message=CUDA_OOM_MESSAGE,
        endTime="2026-11-25T09:42:00Z",
    )
    api = fake_ray_api(job, [])
    assert cli.main(["status", JOB, "--kubeconfig", api.kubeconfig(tmp_path / "k")]) == 1
    out = capsys.readouterr().out
    assert f"RayJob {NS}/{JOB}: Failed (Ray job FAILED)" in out
    assert "AppFailed: Job entrypoint command failed with exit code 1" in out
    assert "ended 2026-11-25T09:42:00Z" in out and "no pods" in out
    assert "[CUDA_OOM]" in out[out.index("diagnosis:") :]


def test_rayjob_phase_before_and_after_kuberay_1_1():
    assert ray_state.failed(rayjob("Failed", "FAILED"))
    assert ray_state.failed(rayjob("Complete", "FAILED"))  # older operators
    assert not ray_state.failed(rayjob("Complete", "SUCCEEDED"))
    assert not ray_state.failed(rayjob("Initializing", "", cluster=None))
    assert ray_state.phase({"metadata": {"name": JOB}}) == "Pending"


@pytest.mark.parametrize("follow", [False, True])
def test_logs_of_a_rayjob_are_the_submitters(fake_ray_api, tmp_path, capsys, follow):
    api = fake_ray_api(rayjob("Running", "RUNNING"), cluster_pods() + [submitter("a1")])
    argv = ["logs", JOB, "--kubeconfig", api.kubeconfig(tmp_path / "k")] + (
        ["-f"] if follow else []
    )
    assert cli.main(argv) == 0
    assert capsys.readouterr().out == SUBMITTER_LOG
    ((path, query),) = [(p, q) for p, q in api.requests if p.endswith("/log")]
    assert path.endswith(f"/pods/{JOB}-a1/log") and query["container"] == ["ray-job-submitter"]


def test_logs_follow_waits_for_the_raycluster_then_the_submitter(fake_ray_api, tmp_path, capsys):
    starting = rayjob("Initializing", "", ready=0)
    api = fake_ray_api(
        rayjob("Running", "RUNNING"), cluster_pods() + [submitter("a1")], initializing=starting
    )
    api.hidden_submitter_lists = 3
    argv = ["logs", JOB, "-f", "--kubeconfig", api.kubeconfig(tmp_path / "k")]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out == SUBMITTER_LOG
    waits = [line for line in captured.err.splitlines() if "waiting for" in line]
    assert len(waits) == 1, captured.err  # said once, not on every poll
    assert "the RayJob is Initializing" in waits[0] and "workers 0/2 ready" in waits[0]


def test_logs_of_a_finished_rayjob_whose_pods_are_gone(fake_ray_api, tmp_path, capsys, sleeps):
    api = fake_ray_api(rayjob("Complete", "SUCCEEDED", cluster=None), [])
    argv = ["logs", JOB, "-f", "--kubeconfig", api.kubeconfig(tmp_path / "k")]
    assert cli.main(argv) == 1
    assert sleeps == []  # at once: nothing will appear, so -f does not wait
    err = capsys.readouterr().err
    assert "the RayJob is Complete and its submitter pod is gone" in err
    assert f"trainstack status {JOB}" in err
