"""`trainstack status` shows Kueue's view of a job of any kind (trainstack/ops/admission.py): its
Workload found by the `kueue.x-k8s.io/job-uid` label, admitted to which ClusterQueue and flavor,
pending with Kueue's reason and its position from the visibility API (estimated, and said so,
when that API does not answer), preempted, or held by an admission gate. Against a local API
server with recorded Kueue v0.19.2 objects (tests/kueue_records.py)."""

from __future__ import annotations

import json

import kueue_records as rec
import pytest
from fake_apiserver import FakeApiServer, from_routes, serve, status
from kubernetes import client as k8s

from trainstack import cli
from trainstack.ops.job_kinds import KINDS

LQ_VISIBILITY = f"{rec.VISIBILITY}/namespaces/{rec.NS}/localqueues/{rec.LQ}/pendingworkloads"
# The LocalQueue's view: the preempted job first, then llm (the held one is not queued).
IN_LQ = [rec.pending_item(rec.PREEMPTED, 1, 0), rec.pending_item(rec.PENDING, 2, 1)]


def bare_job(kind, name: str) -> dict:
    """A job of `kind` as the API returns it before its operator has written much status."""
    return {
        "apiVersion": f"{kind.group}/{kind.version}",
        "kind": kind.kind,
        "metadata": {"name": name, "namespace": rec.NS, "uid": rec.UIDS[name]},
        "spec": {},
        "status": {},
    }


class JobWithWorkloads(FakeApiServer):
    """One job, no pods or events yet, the namespace's Workloads, and the LocalQueue's
    pending list (503 when `visible` is None)."""

    def __init__(self, kind, name: str, visible: list | None = IN_LQ):
        objects = from_routes(
            {
                f"/apis/{kind.group}/{kind.version}/namespaces/{rec.NS}/{kind.plural}/{name}": (
                    bare_job(kind, name)
                ),
                f"/api/v1/namespaces/{rec.NS}/pods": k8s.V1PodList(items=[]),
                f"/api/v1/namespaces/{rec.NS}/events": k8s.CoreV1EventList(items=[]),
                f"{rec.API}/namespaces/{rec.NS}/workloads": rec.listing("Workload", rec.WORKLOADS),
            }
        )

        def answer(path, query):
            if path == LQ_VISIBILITY:
                if visible is None:
                    return status(503, "ServiceUnavailable")
                return 200, json.dumps(rec.summary(visible)).encode(), "application/json"
            return objects(path, query)

        super().__init__(answer)


@pytest.fixture
def cluster():
    yield from serve(JobWithWorkloads)


def status_text(api, name: str, tmp_path, capsys) -> list[str]:
    assert cli.main(["status", name, "--kubeconfig", api.kubeconfig(tmp_path / "k")]) == 0
    return capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_every_kind_shows_where_kueue_admitted_it(cluster, tmp_path, capsys, kind):
    lines = status_text(cluster(kind, "release"), "release", tmp_path, capsys)
    assert lines[0].startswith(f"{kind.kind} {rec.NS}/release")  # the kind's own first line
    assert lines[1] == (
        f"  queue: admitted to ClusterQueue {rec.CQ} on flavor {rec.FLAVOR} from LocalQueue "
        f"{rec.LQ} at {rec.T_ADMIT}; priority release (1000)"
    )


@pytest.mark.parametrize(
    "name, expected",
    [
        (
            "llm",
            [
                f"  queue: pending in LocalQueue {rec.LQ}, position 3 in its ClusterQueue, 2 in "
                f"the LocalQueue; waiting since {rec.T0} (",
                f"    Kueue: Pending: {rec.SHORT}",
            ],
        ),
        (
            "finetune",
            [
                f"  queue: pending in LocalQueue {rec.LQ}, position 2 in its ClusterQueue, 1 in "
                f"the LocalQueue; waiting since {rec.T_ADMIT} (",
                f"    Kueue: Pending: {rec.PREEMPTED_MESSAGE}",
                # The preemptor's Workload is in the namespace: its job is named.
                "    preempted 1 time(s); last by PyTorchJob training/release (priority release) "
                "(prioritization in the ClusterQueue)",
            ],
        ),
    ],
)
def test_a_pending_job_shows_its_position_and_kueues_reason(
    cluster, tmp_path, capsys, name, expected
):
    lines = status_text(cluster(KINDS[0], name), name, tmp_path, capsys)
    assert lines[1].startswith(expected[0]) and lines[1].endswith("priority nightly (100)")
    assert lines[2 : len(expected) + 1] == expected[1:]


def test_positions_are_estimated_when_the_visibility_api_does_not_answer(cluster, tmp_path, capsys):
    lines = status_text(cluster(KINDS[0], "llm", visible=None), "llm", tmp_path, capsys)
    # The preempted job, older at equal priority, is ahead of it in the LocalQueue.
    assert lines[1].startswith(
        f"  queue: pending in LocalQueue {rec.LQ}, position 2 in the LocalQueue (estimated); "
    )
    assert lines[3] == (
        "    (Kueue's visibility API did not answer (HTTP 503 Service Unavailable): positions "
        "are estimated by priority, then time queued)"
    )


def test_a_held_job_names_its_gate(cluster, tmp_path, capsys):
    ray = next(k for k in KINDS if k.kind == "RayJob")
    lines = status_text(cluster(ray, "sweep"), "sweep", tmp_path, capsys)
    assert lines[1] == (
        "  queue: held, not queued until the gate is removed (kueue.x-k8s.io/admission-gated-by)"
        f"; LocalQueue {rec.LQ}"
    )
    assert lines[2] == f"    Kueue: AdmissionGated: Admission is gated by: {rec.GATE}"
