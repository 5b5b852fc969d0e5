"""Kueue in the example stacks' plans: the release, a flavor and a queue per pool (and the efa
stack's team), every job in its queue with Kueue owning its suspend, each pod counted against the
flavor of its own pool, and the plan's Queues section."""

import pytest
from crd_mirror import lagging_groups
from workload_support import pod_templates, stack_plan

from components import kueue, kueue_objects, queueing, versions
from trainstack.offline import plan_report

RELEASE = "kubernetes:helm.sh/v3:Release"
KUEUE = "kubernetes:kueue.x-k8s.io/v1beta2"
GPU = "nvidia.com/gpu"


def of_kind(result, kind: str) -> dict[str, dict]:
    return {m["metadata"]["name"]: m for m in result.manifests if m["kind"] == kind}


@pytest.mark.usefixtures("pinned_crds")
@pytest.mark.parametrize("stack", ["dev", "efa"])
def test_example_stacks_plan_kueue_and_a_queue_per_pool(stack):
    result = stack_plan(stack)
    cfg = result.config
    assert result.schema_errors == {}
    # Validated against the pinned CRDs, unless CI's mirror predates them (crd_mirror.py).
    assert {m["apiVersion"].split("/")[0] for m in result.unchecked} <= lagging_groups()
    (release,) = [r for r in result.plan.of_type(RELEASE) if r.inputs["name"] == kueue.RELEASE]
    assert (release.inputs["chart"], release.inputs["version"], release.inputs["namespace"]) == (
        versions.KUEUE_CHART,
        versions.KUEUE_VERSION,
        kueue.NAMESPACE,
    )
    pools = cfg.pools()
    flavors = of_kind(result, "ResourceFlavor")
    assert set(flavors) == {*pools, cfg.system_group[0]}
    plan = cfg.queue_plan()
    queues = of_kind(result, "ClusterQueue")
    assert set(queues) == set(plan.queues) == {*pools, *cfg.queues.teams}
    for name, cq in queues.items():
        gpus = {
            f["name"]: next(r["nominalQuota"] for r in f["resources"] if r["name"] == GPU)
            for f in cq["spec"]["resourceGroups"][0]["flavors"]
        }
        assert gpus == {
            **{p: q.gpus for p, q in plan.queues[name].quotas.items()},
            cfg.system_group[0]: 0,
        }
        assert cq["spec"]["cohortName"] == kueue_objects.COHORT
    # Each pool's queues hold its whole ceiling between them.
    for pool, facts in pools.items():
        assert sum(q.quotas[pool].gpus for q in plan.queues.values() if pool in q.quotas) == (
            facts.max_gpus
        )
    local = of_kind(result, "LocalQueue")
    assert {
        n: (m["metadata"]["namespace"], m["spec"]["clusterQueue"]) for n, m in local.items()
    } == {n: (cfg.jobs_namespace, n) for n in plan.queues}


def test_every_job_waits_in_its_queue_and_kueue_owns_its_suspend():
    result = stack_plan("efa")
    by_name = {
        r.name: r for r in result.plan.resources if r.type.endswith(("PyTorchJob", "RayJob"))
    }
    local_queues = {
        r.inputs["metadata"]["name"]: r.urn for r in result.plan.of_type(f"{KUEUE}:LocalQueue")
    }
    for name, job in result.config.training_jobs.items():
        r = by_name[name]
        labels = r.inputs["metadata"]["labels"]
        queue = job.queue or job.node_pool
        assert labels[queueing.QUEUE_LABEL] == queue
        assert r.inputs["metadata"]["annotations"][queueing.GATE_ANNOTATION] == "trainstack.io/held"
        assert local_queues[queue] in r.dependencies
        kind = r.type.rsplit(":", 1)[1]
        path = queueing.SUSPEND_FIELDS[kind]
        node = r.inputs
        for part in path.split("."):
            node = node[part]
        assert node is True  # created suspended; Kueue unsuspends it at admission
        assert r.options["ignoreChanges"] == [path]
        assert set(queueing.REPLACE_ON) <= set(r.options["replaceOnChanges"])


def _tolerates(toleration: dict, taint: dict) -> bool:
    if toleration.get("effect") not in (None, "", taint["effect"]):
        return False
    if toleration.get("operator") == "Exists":
        return toleration.get("key") in (None, "", taint["key"])
    return toleration.get("key") == taint["key"] and toleration.get("value") == taint.get("value")


def _fits(flavor: dict, spec: dict) -> bool:
    """Kueue v0.19.2's flavor check (pkg/scheduler/flavorassigner/flavorassigner.go
    checkFlavorForPodSets): no NoSchedule/NoExecute taint the pod does not tolerate, and the
    pod's nodeSelector agrees on each of the flavor's own label keys it names."""
    tolerations = spec.get("tolerations") or []
    for taint in flavor["spec"].get("nodeTaints") or []:
        if not any(_tolerates(t, taint) for t in tolerations):
            return False
    selector = spec.get("nodeSelector") or {}
    return all(selector.get(k, v) == v for k, v in flavor["spec"]["nodeLabels"].items())


def test_each_pod_counts_against_its_own_pool_and_admission_changes_no_pod():
    result = stack_plan("full")
    flavors = of_kind(result, "ResourceFlavor")
    queues = of_kind(result, "ClusterQueue")
    system = result.config.system_group[0]
    jobs = [m for m in result.manifests if m["kind"] in ("PyTorchJob", "RayJob")]
    assert {m["kind"] for m in jobs} == {"PyTorchJob", "RayJob"}
    for job in jobs:
        name = job["metadata"]["name"]
        pool = result.config.training_jobs[name].node_pool
        cq = queues[job["metadata"]["labels"][queueing.QUEUE_LABEL]]
        order = cq["spec"]["resourceGroups"][0]["flavors"]
        for part, template in pod_templates(job):
            spec = template["spec"]
            gpus = sum(
                int(c["resources"].get("requests", {}).get(GPU, 0)) for c in spec["containers"]
            )
            # Kueue takes the first flavor, in the queue's order, that the pod fits and that
            # has quota for what it asks (no flavor gives GPUs to the system nodes).
            chosen = next(
                f["name"]
                for f in order
                if _fits(flavors[f["name"]], spec)
                and (
                    gpus == 0 or any(r["name"] == GPU and r["nominalQuota"] for r in f["resources"])
                )
            )
            assert chosen == (pool if gpus else system), (name, part)
            # At admission Kueue merges the flavor's nodeLabels into the pod's nodeSelector
            # (pkg/podset/podset.go): nothing the pod does not already select on.
            selector = spec.get("nodeSelector") or {}
            assert {**selector, **flavors[chosen]["spec"]["nodeLabels"]} == selector, (name, part)


def test_the_plan_prints_the_queues_and_their_quotas():
    result = stack_plan("efa")
    lines = plan_report.summary(result).splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith("Queues (Kueue 0.19.2"))
    section = lines[start : lines.index("", start)]
    rows = {tuple(x.split()[:3]): x.split()[3:6] for x in section[2:5]}
    assert rows == {
        ("gpu-g5-efa", "pool", "gpu-g5-efa"): ["16", "192", "768Gi"],
        ("efa", "pool", "efa"): ["16", "384", "1536Gi"],
        ("research", "team", "efa"): ["16", "384", "1536Gi"],
    }
    assert "  Priorities: release 1000, batch 100 (default)" in section
    assert "  llama-8b: queue research, priority release" in section
    assert "  verl-grpo: queue efa, priority batch" in section
