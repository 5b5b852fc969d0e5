"""The dashboard (components/dashboard_body.py) read back query by query against the metric
catalog (components/dashboard_check.py, metric_catalog.py): both example stacks' dashboards name
only metrics that are published, with their namespaces and dimension sets, and a misspelling of
any of the three is refused. The plan's own Dashboard resource is checked in test_platform.py,
which plans the stacks anyway."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import stack_data

from components import dashboard_body as db
from components import metric_catalog as mc
from components.config import parse
from components.dashboard import describe, svg
from components.dashboard_check import problems
from jobwatch import pytorchjob

ROOT = Path(__file__).resolve().parents[2]


def example(stack: str) -> dict:
    data, region = stack_data(stack)
    return db.body(db.spec_of(parse(data, region)))


def titles(body: dict) -> list[str]:
    return [w["properties"].get("title", "") for w in body["widgets"] if w["type"] == "metric"]


def checked_queries(body: dict) -> int:
    return sum(len(w["properties"]["metrics"]) for w in body["widgets"] if w["type"] == "metric")


@pytest.mark.parametrize("stack", ["dev", "efa"])
def test_every_query_of_the_example_dashboards_names_a_published_metric(stack):
    body = example(stack)
    assert problems(body) == []
    assert checked_queries(body) > 20
    # The panels the issue asks for, each from the publisher that really has the figure.
    shown = " | ".join(titles(body))
    for panel in (
        "Running $/h",
        "Nodes by pool and capacity type",
        "GPU utilization by node",
        "GPU memory used by node",
        "GPU utilization by job",
        "GPU memory used by job",
        "Tokens/s by job",
        "MFU by job",
        "Loss by job",
    ):
        assert panel in shown, panel
    assert ("EFA received bytes" in shown) == (stack == "efa")  # only where EFA is in use


DEV_MUTATIONS = [
    # (what is changed in the body's JSON, the problem it must raise)
    ("AVG(node_gpu_utilization)", "AVG(node_gpu_utilisation)", "node_gpu_utilisation: no such"),
    ('"pod_gpu_utilization"', '"pod_gpu_utilisation"', "pod_gpu_utilisation: no such metric"),
    ("(node_gpu_memory_used)", "(node_gpu_mem_used)", "node_gpu_mem_used: no such metric"),
    ('"trainstack/Fleet"', '"trainstack/fleet"', "trainstack/fleet Nodes: no such metric"),
    (
        "SCHEMA(ContainerInsights, ClusterName, InstanceId, NodeName)",
        "SCHEMA(ContainerInsights, ClusterName, NodeName)",
        "node_gpu_utilization {ClusterName, NodeName}: published only with",
    ),
    ('"Pool", "small", "CapacityType"', '"NodePool", "small", "CapacityType"', "published only"),
    ("GROUP BY NodeName", "GROUP BY PodName", "GROUP BY PodName: not a dimension"),
    ("WHERE ClusterName = ", "WHERE Cluster = ", "WHERE Cluster: not a dimension"),
    ("AVG([j0p0", "AVG([j9p0", "no row with id j9p0"),
    ("(TokensPerSecond)", "(TokenPerSecond)", "TokenPerSecond: no such metric"),
]


@pytest.mark.parametrize(
    ("old", "new", "problem"), DEV_MUTATIONS, ids=[m[1] for m in DEV_MUTATIONS]
)
def test_a_misspelled_metric_namespace_or_dimension_is_refused(old, new, problem):
    text = json.dumps(example("dev"))
    assert old in text
    found = problems(json.loads(text.replace(old, new)))
    assert any(problem in p for p in found), found


def test_a_jobs_gpu_lines_are_math_over_exactly_its_pods():
    spec = db.Spec(
        "c",
        "us-west-2",
        "training",
        jobs=(
            db.Job("fixed", db.pytorch_pods("fixed", elastic=False, nodes=3)),
            db.Job("grows", db.pytorch_pods("grows", elastic=True, nodes=2)),
            db.Job("ray"),  # KubeRay names its pods with a random suffix: per pod only
        ),
    )
    assert spec.jobs[0].pods == ("fixed-master-0", "fixed-worker-0", "fixed-worker-1")
    assert spec.jobs[1].pods == ("grows-worker-0", "grows-worker-1")
    # Rank 0's pod, as the watcher finds it for the same two shapes (jobwatch/pytorchjob.py).
    for job, elastic in ((spec.jobs[0], False), (spec.jobs[1], True)):
        replicas = {"Worker": {}} if elastic else {"Master": {}, "Worker": {}}
        manifest = {"metadata": {"name": job.name}, "spec": {"pytorchReplicaSpecs": replicas}}
        if elastic:
            manifest["spec"]["elasticPolicy"] = {"minReplicas": 1, "maxReplicas": 2}
        assert pytorchjob.log_pod_name(manifest) == job.pods[0]
    body = db.body(spec)
    assert problems(body) == []
    (util,) = [
        w for w in body["widgets"] if w["properties"].get("title", "").startswith("GPU util")
        and "by job" in w["properties"]["title"]
    ]  # fmt: skip
    rows = util["properties"]["metrics"]
    lines = {r[0]["label"]: r[0]["expression"] for r in rows if "expression" in r[0]}
    assert lines == {"fixed": "AVG([j0p0, j0p1, j0p2])", "grows": "AVG([j1p0, j1p1])"}
    pods = [r[7] for r in rows if r[0] == mc.CONTAINER_INSIGHTS]
    assert pods == [*spec.jobs[0].pods, *spec.jobs[1].pods]


def test_the_catalog_takes_the_trainers_and_the_watchers_names_from_their_modules():
    from jobwatch import fleet
    from trainer import cloudwatch_emf

    for name in cloudwatch_emf.METRICS:
        m = mc.lookup(cloudwatch_emf.NAMESPACE, name)
        assert m is not None and m.has_dimensions(("ClusterName", "Job", "Rank"))
    assert mc.lookup(fleet.NAMESPACE, fleet.NODES).has_dimensions(
        ("ClusterName", "Pool", "CapacityType")
    )
    # What the pinned agent does not publish is said, not drawn.
    assert {"GPU XID errors", "NVLink bandwidth or errors"} <= set(mc.NOT_EMITTED)
    assert not any("xid" in n.lower() or "nvlink" in n.lower() for _, n in mc.CATALOG)


def test_the_docs_picture_and_description_come_from_the_dev_dashboard():
    body = example("dev")
    assert (ROOT / "docs" / "dashboard.svg").read_text(encoding="utf-8") == svg(body), (
        "regenerate: python -m components.dashboard --svg docs/dashboard.svg"
    )
    text = describe(body)
    assert all(t in text for t in titles(body))
    assert "SELECT AVG(node_gpu_utilization) FROM SCHEMA(ContainerInsights" in text
