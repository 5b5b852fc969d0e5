"""`trainstack netcheck`: the dry run's validated manifests, the requests it refuses, and a real
run against the fake API server fed a recorded rank-0 log (one passing, one failing with 5)."""

from __future__ import annotations

import json
import time
import types
from pathlib import Path

import pytest
import yaml
from fake_apiserver import JSON, cluster_servers, status

from trainstack import cli
from trainstack.ops import netcheck

ROOT = Path(__file__).resolve().parents[2]
NS, NAME = "training", "netcheck-large"
JOBS = f"/apis/kubeflow.org/v1/namespaces/{NS}/pytorchjobs"
IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/trainstack-dev@sha256:" + "ab" * 32


def _main(*args: str) -> int:
    return cli.main(["--project-dir", str(ROOT), "netcheck", "--stack", "dev", *args])


def _log(code: int, busbw: float, verdict: str) -> str:
    """Rank 0's log as trainer.netcheck prints it, NCCL's INFO lines before it."""
    result = {"code": code, "backend": "nccl", "nodes": 2, "ranks": 2, "verdict": [verdict]}
    return "\n".join(
        [
            "netcheck-large-master-0:1:1 [0] NCCL INFO Using network Socket",
            "trainer.netcheck: 2 ranks on 2 node(s), backend nccl, transport Socket",
            f"{'op':<11}{'bytes':>12}{'time us':>11}{'algbw GB/s':>12}{'busbw GB/s':>12}"
            f"{'busbw Gbps':>12}{'of inst.':>10}",
            f"{'all_reduce':<11}{1048576:>12}{900.0:>11.1f}{1.1:>12.4g}{1.1:>12.4g}"
            f"{busbw:>12.4g}{'4%':>10}",
            f"trainer.netcheck: {verdict}",
            f"{netcheck.RESULT} {json.dumps(result)}",
            "",
        ]
    )


class Cluster:
    """The stack's llama-1b job (its image), and the check's job: created, then Running once,
    then ended as `end` with rank 0's `log`."""

    def __init__(self, end: str, log: str, pod_status: dict | None = None):
        self.end, self.log, self.job, self.reads = end, log, None, 0
        self.pod_status = pod_status

    def _job(self, phase: str) -> dict:
        conds = [{"type": phase, "status": "True", "lastTransitionTime": "2026-12-07T10:00:00Z"}]
        return {**self.job, "status": {"conditions": conds}}

    def get(self, path, query):
        if path == JOBS:
            stack_job = {
                "metadata": {"name": "llama-1b", "namespace": NS},
                "spec": {
                    "pytorchReplicaSpecs": {
                        "Master": {
                            "template": {
                                "spec": {"containers": [{"name": "pytorch", "image": IMAGE}]}
                            }
                        }
                    }
                },
            }
            return 200, json.dumps({"items": [stack_job]}).encode(), JSON
        if path == f"{JOBS}/{NAME}" and self.job is not None:
            self.reads += 1
            body = self._job("Running" if self.reads == 1 else self.end)
            return 200, json.dumps(body).encode(), JSON
        if path == f"/api/v1/namespaces/{NS}/pods":
            pod = {
                "metadata": {"name": f"{NAME}-master-0", "namespace": NS},
                "status": self.pod_status or {"phase": "Running" if self.reads == 1 else self.end},
            }
            return 200, json.dumps({"items": [pod]}).encode(), JSON
        if path == f"/api/v1/namespaces/{NS}/pods/{NAME}-master-0/log":
            return 200, self.log.encode(), "text/plain"
        if path == f"/api/v1/namespaces/{NS}/events":
            return 200, json.dumps({"items": []}).encode(), JSON
        return status(404, "NotFound")

    def write(self, method, path, query, body):
        if method == "POST" and path == JOBS:
            self.job = body
            return 201, json.dumps(body).encode(), JSON
        if method == "POST" and path.endswith("/networkpolicies"):
            return 201, json.dumps(body).encode(), JSON
        return status(404, "NotFound")


@pytest.fixture
def api(tmp_path, monkeypatch):
    monkeypatch.setattr(
        netcheck, "time", types.SimpleNamespace(sleep=lambda s: None, monotonic=time.monotonic)
    )
    yield from cluster_servers(tmp_path)


@pytest.mark.usefixtures("pinned_crds")
def test_dry_run_prints_valid_manifests_of_the_pool(capsys):
    assert _main("--pool", "large", "--nodes", "2", "--dry-run", "--image", IMAGE) == 0
    out, err = capsys.readouterr()
    job, *policies = yaml.safe_load_all(out)
    assert job["kind"] == "PyTorchJob" and job["metadata"]["name"] == NAME
    assert job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 1  # 2 nodes: master + 1
    assert [p["kind"] for p in policies] == ["NetworkPolicy"] * len(policies) and policies
    assert IMAGE in out and "trainer.netcheck" in out
    assert "volume checkpoints (no job on this pool has one: the stack's first shared" in err
    assert "invalid" not in err and "not checked" not in err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ("--pool", "nope"),
            "'nope' is not a GPU pool of this stack (its GPU pools: gpu-g4dn, gpu-g5, large, small)",
        ),
        (("--pool", "large", "--nodes", "9"), "pool large can give at most 8 node(s) of 8 GPU"),
        # its 4-GPU limit holds one g5.12xlarge (4 GPUs), never a g5.48xlarge (8)
        (("--pool", "small", "--nodes", "2"), "pool small can give at most 1 node(s) of 4 GPU"),
    ],
)
def test_a_request_the_stack_cannot_run_is_refused(args, said, capsys):
    assert _main(*args, "--dry-run") == 2
    assert said in capsys.readouterr().err


def test_a_passing_check_prints_its_table_and_exits_0(api, capsys):
    server, kc = api(Cluster("Succeeded", _log(0, 300.0, "PASS: EFA on every rank")))
    assert _main("--pool", "large", "--kubeconfig", kc) == 0
    out, err = capsys.readouterr()
    assert "trainer.netcheck: PASS: EFA on every rank" in out and "all_reduce" in out
    assert "NCCL INFO" not in out and netcheck.RESULT not in out
    created = next(b for m, p, b in server.writes if p == JOBS)
    assert IMAGE in json.dumps(created)  # the stack's image, read from its own job
    kinds = [b["kind"] for m, p, b in server.writes]
    assert kinds[-1] == "PyTorchJob" and "NetworkPolicy" in kinds[:-1]  # policies first
    assert f"{NAME}: Running" in err and f"{NAME}: Succeeded" in err


def test_sockets_where_efa_was_expected_exits_5(api, capsys):
    verdict = "FAIL: EFA expected but rank 0 used Socket"
    _, kc = api(Cluster("Failed", _log(5, 9.0, verdict)))
    assert _main("--pool", "large", "--kubeconfig", kc) == 5
    assert f"trainer.netcheck: {verdict}" in capsys.readouterr().out


def test_a_pod_that_cannot_pull_the_image_exits_1_with_why(api, capsys):
    waiting = {"reason": "ErrImagePull", "message": "manifest unknown"}
    pod = {
        "phase": "Pending",
        "containerStatuses": [
            {
                "name": "pytorch",
                "image": IMAGE,
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": waiting},
            }
        ],
    }
    _, kc = api(Cluster("Running", "", pod))
    assert _main("--pool", "large", "--kubeconfig", kc, "--image", IMAGE) == 1
    err = capsys.readouterr().err
    assert f"{NAME} could not run: Running, 0/1 pod(s) running; ErrImagePull: manifest" in err


def test_the_log_markers_are_the_trainers():
    source = (ROOT / "trainer" / "netcheck.py").read_text()
    assert f'RESULT = "{netcheck.RESULT}"' in source and f'PREFIX = "{netcheck.PREFIX}"' in source
