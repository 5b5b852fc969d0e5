"""`trainstack queue` (trainstack/ops/queue.py) against a local API server answering with recorded
Kueue v0.19.2 objects (tests/kueue_records.py, shaped as kubernetes-sigs/kueue v0.19.2
apis/kueue/v1beta2/*_types.go and apis/visibility/v1beta2/types.go): the quota table, the
pending jobs in the order the visibility API gives with Kueue's reasons, the estimate (said so)
when that API does not answer, one namespace's queues, and a cluster without Kueue."""

from __future__ import annotations

import json

import kueue_records as rec
import pytest
from fake_apiserver import FakeApiServer, from_routes, serve, status

from trainstack import cli

OTHER = {  # a job of another namespace ahead in the shared ClusterQueue, seen only by visibility
    "metadata": {
        "name": "pytorchjob-eval-9c1d0",
        "namespace": "research",
        "creationTimestamp": "2026-11-25T09:20:00Z",
        "ownerReferences": [
            {
                "apiVersion": "kubeflow.org/v1",
                "kind": "PyTorchJob",
                "name": "eval",
                "uid": "0b1e5e00-0000-4000-8000-0000000000ff",
            }
        ],  # fmt: skip
    },
    "priority": 500,
    "localQueueName": "team-b",
    "positionInClusterQueue": 0,
    "positionInLocalQueue": 0,
}
# Kueue's order (BestEffortFIFO): priority, then creation; the held job is not queued.
IN_CQ = [OTHER, rec.pending_item(rec.PREEMPTED, 1, 0), rec.pending_item(rec.PENDING, 2, 1)]
CQ_VISIBILITY = f"{rec.VISIBILITY}/clusterqueues/{rec.CQ}/pendingworkloads"


def routes(namespace: str | None = None) -> dict[str, object]:
    where = f"/namespaces/{namespace}" if namespace else ""
    return {
        f"{rec.API}/clusterqueues": rec.listing("ClusterQueue", [rec.CLUSTER_QUEUE]),
        f"{rec.API}{where}/localqueues": rec.listing("LocalQueue", [rec.LOCAL_QUEUE]),
        f"{rec.API}{where}/workloads": rec.listing("Workload", rec.WORKLOADS),
    }


class KueueApi(FakeApiServer):
    """Kueue's lists; the visibility API answers with `visible` or, when None, 503 as an
    APIService whose server is down does."""

    def __init__(self, visible: list | None = IN_CQ, namespace: str | None = None):
        objects = from_routes(routes(namespace))

        def answer(path, query):
            if path == CQ_VISIBILITY:
                if visible is None:
                    return status(503, "ServiceUnavailable", "service unavailable")
                return 200, json.dumps(rec.summary(visible)).encode(), "application/json"
            return objects(path, query)

        super().__init__(answer)


@pytest.fixture
def kueue_api():
    yield from serve(KueueApi)


def test_queue_shows_quota_usage_and_pending_jobs_in_kueues_order(kueue_api, tmp_path, capsys):
    api = kueue_api()
    assert cli.main(["queue", "--kubeconfig", api.kubeconfig(tmp_path / "k")]) == 0
    out = capsys.readouterr().out
    assert "positions from Kueue's visibility API, 1 = next" in out
    assert (
        f"ClusterQueue {rec.CQ} (cohort trainstack): Active; 1 admitted, 1 reserving quota, "
        "3 pending" in out
    )
    gpu = next(line.split() for line in out.splitlines() if line.strip().startswith(rec.FLAVOR)
               and rec.GPU in line)  # fmt: skip
    # flavor, resource, nominal, borrowing limit, lending limit, reserved, in use, borrowed
    assert gpu == [rec.FLAVOR, rec.GPU, "8", "4", "8", "8", "8", "0"]
    cpu = next(line.split() for line in out.splitlines() if " cpu " in line)
    assert cpu[3:5] == ["unlimited", "all"]  # no limits in a cohort: borrow any, lend all
    pending = out[out.index("pending, in the order") : out.index("LocalQueues:")]
    lines = pending.splitlines()
    assert lines[1].split()[:3] == ["1.", "PyTorchJob", "research/eval"]
    assert lines[2].split()[:3] == ["2.", "PyTorchJob", f"{rec.NS}/finetune"]
    assert "LocalQueue team-a #1, priority 100 (nightly)" in lines[2]
    assert f"Pending: {rec.PREEMPTED_MESSAGE}" in pending and "preempted 1 time(s)" in pending
    assert "evicted before: Preempted\n" in pending  # its message is the one above
    llm = pending.index(f"{rec.NS}/llm")
    assert pending[llm:].splitlines()[1].strip() == f"Pending: {rec.SHORT}"
    # The held job is not in Kueue's queue: listed last, without a place, with its gate.
    assert f"- RayJob {rec.NS}/sweep [held]" in pending
    assert f"AdmissionGated: Admission is gated by: {rec.GATE}" in pending
    lq = out[out.index("LocalQueues:") :]
    assert f"{rec.NS}/{rec.LQ} -> ClusterQueue {rec.CQ}: Active; 1 admitted" in lq
    assert f"in use: {rec.FLAVOR} {rec.GPU} 8, {rec.FLAVOR} cpu 16" in lq


def test_queue_json_is_the_same_report(kueue_api, tmp_path, capsys):
    api = kueue_api()
    assert cli.main(["queue", "--json", "--kubeconfig", api.kubeconfig(tmp_path / "k")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["positions"] == {"source": "visibility API", "note": ""}
    (cq,) = data["clusterQueues"]
    gpu = next(q for q in cq["quotas"] if q["resource"] == rec.GPU)
    assert gpu == {"flavor": rec.FLAVOR, "resource": rec.GPU, "nominal": "8",
                   "borrowingLimit": "4", "lendingLimit": "8", "reserved": "8", "inUse": "8",
                   "borrowed": "0"}  # fmt: skip
    assert [(p["job"], p["position"], p["positionInLocalQueue"]) for p in cq["pending"]] == [
        ("PyTorchJob research/eval", 0, 0),
        (f"PyTorchJob {rec.NS}/finetune", 1, 0),
        (f"PyTorchJob {rec.NS}/llm", 2, 1),
        (f"RayJob {rec.NS}/sweep", None, None),
    ]
    finetune = cq["pending"][1]
    assert finetune["evicted"] == f"Preempted: {rec.PREEMPTED_MESSAGE}"
    assert finetune["waitingSince"] == rec.T_ADMIT  # requeued when it was preempted
    assert data["localQueues"][0]["usage"][0] == {
        "flavor": rec.FLAVOR, "resource": rec.GPU, "inUse": "8", "reserved": "8"
    }  # fmt: skip


def test_without_the_visibility_api_positions_are_estimated_and_said_so(
    kueue_api, tmp_path, capsys
):
    api = kueue_api(visible=None)
    assert cli.main(["queue", "--kubeconfig", api.kubeconfig(tmp_path / "k")]) == 0
    out = capsys.readouterr().out
    assert (
        "positions estimated: Kueue's visibility API did not answer (HTTP 503 Service "
        "Unavailable): positions are estimated by priority, then time queued" in out
    )
    pending = out[out.index("pending, in the order") : out.index("LocalQueues:")]
    # Equal priority: the older Workload first; the held one is not in line.
    assert pending.index("1. PyTorchJob training/finetune") < pending.index(
        "2. PyTorchJob training/llm"
    )
    assert "- RayJob training/sweep [held]" in pending
    asked = [p for p, _ in api.requests]
    assert asked.count(CQ_VISIBILITY) == 1  # not asked again once it failed


def test_stack_narrows_to_its_jobs_namespace(kueue_api, tmp_path, capsys):
    (tmp_path / "Pulumi.yaml").write_text("name: trainstack\nruntime: python\n")
    (tmp_path / "Pulumi.ml.yaml").write_text("config:\n  trainstack:jobsNamespace: ml\n")
    api = kueue_api(namespace="ml")
    argv = ["--project-dir", str(tmp_path), "queue", "--stack", "ml"]
    assert cli.main([*argv, "--kubeconfig", api.kubeconfig(tmp_path / "k")]) == 0
    assert "feeding namespace ml" in capsys.readouterr().out
    asked = {p for p, _ in api.requests}
    assert {f"{rec.API}/namespaces/ml/localqueues", f"{rec.API}/namespaces/ml/workloads"} <= asked


def test_a_cluster_without_kueue_is_one_line(tmp_path, capsys):
    api = FakeApiServer(lambda path, query: status(404, "NotFound"))
    try:
        assert cli.main(["queue", "--kubeconfig", api.kubeconfig(tmp_path / "k")]) == 1
    finally:
        api.close()
    err = capsys.readouterr().err
    assert err.startswith("trainstack queue: Kueue is not installed in this cluster")
    assert err.count("\n") == 1


def test_the_recorded_objects_validate_against_the_pinned_kueue_crds():
    """The records are checked against Kueue v0.19.2's own CRD schemas (closed: an unknown or
    misspelled field fails) once the stack pins them (trainstack/offline/crds.py PINNED)."""
    from trainstack.offline import schemas
    from trainstack.offline.schemas import crd

    if not crd.pinned("kueue.x-k8s.io", "Workload"):
        pytest.skip("Kueue's CRDs are not in trainstack/offline/crds.py PINNED on this branch")
    records = [*rec.WORKLOADS, rec.readmitted(rec.PREEMPTED), rec.CLUSTER_QUEUE, rec.LOCAL_QUEUE]
    assert [schemas.validate_object(o) for o in records] == [[]] * len(records)
