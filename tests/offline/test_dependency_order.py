"""Ordering you can see: `resources.json` records what each resource waits for, and no object
that creates pods is registered without a path to what its pods need at admission.

The EKS Pod Identity webhook injects credentials only when a pod is admitted, and associations
are eventually consistent (EKS API reference, CreatePodIdentityAssociation: "may take several
seconds to be effective"): a pod admitted first runs without credentials until it is recreated.
A pod whose ServiceAccount, RoleBinding, ConfigMap, Secret or claim does not exist yet fails or
waits in ways `pulumi up` does not see. So each of those must be a (transitive) dependency, and a
pod template carries its association's id, so a replaced association recreates its pods.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from netpol_eval import selects
from workload_support import full_project, pod_templates

from components import volume_prepare
from components.pod_spec import IDENTITY_ANNOTATION
from trainstack.offline import plan as offline_plan

ROOT = Path(__file__).resolve().parents[2]
POD_CREATORS = {
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:core/v1:Pod",
    "kubernetes:kubeflow.org/v1:PyTorchJob",
    "kubernetes:ray.io/v1:RayJob",
}
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"


@functools.cache
def written(stack: str) -> tuple[list[dict], offline_plan.PlanResult]:
    import tempfile

    tmp = Path(tempfile.mkdtemp())
    project = full_project(tmp) if stack == "full" else ROOT
    result = offline_plan.run(project, stack, out_root=tmp / "out")
    return json.loads((tmp / "out" / stack / "resources.json").read_text()), result


def _closure(by_urn: dict[str, dict], urn: str) -> set[str]:
    seen: set[str] = set()
    todo = list(by_urn[urn]["dependencies"])
    while todo:
        u = todo.pop()
        if u not in seen:
            seen.add(u)
            todo += by_urn.get(u, {}).get("dependencies", [])
    return seen


def _k8s(resources: list[dict], kind: str, namespace: str) -> dict[str, dict]:
    """The stack's own objects of a kind in a namespace, by metadata name."""
    out = {}
    for r in resources:
        if r["type"].rsplit(":", 1)[-1] == kind and r["type"].startswith("kubernetes:"):
            meta = r["inputs"].get("metadata") or {}
            if meta.get("namespace") == namespace and meta.get("name"):
                out[meta["name"]] = r
    return out


def _refs(spec: dict) -> dict[str, set[str]]:
    """The ConfigMaps, Secrets and claims a pod spec names."""
    out: dict[str, set[str]] = {"ConfigMap": set(), "Secret": set(), "PersistentVolumeClaim": set()}
    for v in spec.get("volumes") or []:
        if "configMap" in v:
            out["ConfigMap"].add(v["configMap"]["name"])
        if "secret" in v:
            out["Secret"].add(v["secret"]["secretName"])
        if "persistentVolumeClaim" in v:
            out["PersistentVolumeClaim"].add(v["persistentVolumeClaim"]["claimName"])
    for c in [*spec.get("initContainers", []), *spec.get("containers", [])]:
        for e in c.get("env") or []:
            ref = e.get("valueFrom") or {}
            if "configMapKeyRef" in ref:
                out["ConfigMap"].add(ref["configMapKeyRef"]["name"])
            if "secretKeyRef" in ref:
                out["Secret"].add(ref["secretKeyRef"]["name"])
    return out


def required_before(resources: list[dict], creator: dict) -> dict[str, str]:
    """What `creator`'s pods need at admission that the stack itself creates: description ->
    URN. Found from the plan alone, not from the program's own declarations."""
    ns = creator["inputs"]["metadata"]["namespace"]
    need: dict[str, str] = {}
    manifest = {**creator["inputs"], "kind": creator["type"].rsplit(":", 1)[-1]}
    for _, template in pod_templates(manifest):
        spec, labels = template["spec"], (template.get("metadata") or {}).get("labels") or {}
        sa = spec.get("serviceAccountName")
        if sa:
            for name, r in _k8s(resources, "ServiceAccount", ns).items():
                if name == sa:
                    need[f"ServiceAccount {sa}"] = r["urn"]
            for r in resources:
                if r["type"] == ASSOCIATION and (
                    r["inputs"].get("namespace"),
                    r["inputs"].get("serviceAccount"),
                ) == (ns, sa):
                    need[f"Pod Identity association of {sa}"] = r["urn"]
            roles = _k8s(resources, "Role", ns)
            for name, b in _k8s(resources, "RoleBinding", ns).items():
                subjects = b["inputs"].get("subjects") or []
                if any(s.get("name") == sa and s.get("kind") == "ServiceAccount" for s in subjects):
                    need[f"RoleBinding {name}"] = b["urn"]
                    role = roles[b["inputs"]["roleRef"]["name"]]
                    need[f"Role {b['inputs']['roleRef']['name']}"] = role["urn"]
                    for rule in role["inputs"].get("rules") or []:
                        if "configmaps" in rule.get("resources", []):
                            for cm in rule.get("resourceNames") or []:
                                need[f"ConfigMap {cm} (its Role names it)"] = _k8s(
                                    resources, "ConfigMap", ns
                                )[cm]["urn"]
        for kind, names in _refs(spec).items():
            created = _k8s(resources, kind, ns)
            for n in names & set(created):
                need[f"{kind} {n}"] = created[n]["urn"]
        for name, p in _k8s(resources, "NetworkPolicy", ns).items():
            if p["inputs"]["spec"]["podSelector"] and selects(
                p["inputs"]["spec"]["podSelector"], labels
            ):
                need[f"NetworkPolicy {name}"] = p["urn"]
    return need


@pytest.mark.parametrize("stack", ["dev", "efa", "full"])
def test_no_pod_creating_object_starts_before_what_its_pods_need(stack):
    resources, _ = written(stack)
    by_urn = {r["urn"]: r for r in resources}
    creators = [r for r in resources if r["type"] in POD_CREATORS]
    assert creators
    missing = {}
    for creator in creators:
        reachable = _closure(by_urn, creator["urn"])
        for what, urn in required_before(resources, creator).items():
            if urn not in reachable:
                missing.setdefault(creator["name"], []).append(what)
    assert missing == {}


@pytest.mark.parametrize("stack", ["efa", "full"])
def test_the_volume_prepare_job_waits_for_its_namespace_policies_and_claim(stack):
    """The root-run FSx step (volume_prepare.py) starts only once its namespace denies all
    traffic and its own policy selects it: the general test above then covers it too."""
    resources, _ = written(stack)
    by_urn = {r["urn"]: r for r in resources}
    ns = volume_prepare.NAMESPACE
    steps = _k8s(resources, "Job", ns)
    assert steps
    deny = _k8s(resources, "NetworkPolicy", ns).get("default-deny")
    assert deny is not None, f"no default-deny NetworkPolicy in {ns}"
    for name, step in steps.items():
        need = required_before(resources, step)
        assert f"NetworkPolicy {name}" in need, sorted(need)
        assert any(k.startswith("PersistentVolumeClaim ") for k in need), sorted(need)
        reachable = _closure(by_urn, step["urn"])
        assert {deny["urn"], *need.values()} <= reachable, name


def test_resources_json_carries_dependencies_including_those_of_inputs():
    resources, _ = written("efa")
    by_name = {(r["type"], r["name"]): r for r in resources}
    association = by_name[(ASSOCIATION, "trainstack-artifacts-job")]
    # role_arn is an input from the role: an implicit dependency, recorded.
    role = by_name[("aws:iam/role:Role", "trainstack-artifacts-job")]
    assert role["urn"] in association["dependencies"]
    job = by_name[("kubernetes:kubeflow.org/v1:PyTorchJob", "llama-8b")]
    assert association["urn"] in job["dependencies"]


@pytest.mark.parametrize("stack", ["efa", "full"])
def test_pod_templates_carry_their_identity_association(stack):
    resources, result = written(stack)
    ids = {
        (r.plain_inputs["namespace"], r.plain_inputs["serviceAccount"]): r.id
        for r in result.plan.of_type(ASSOCIATION)
    }
    checked = 0
    for creator in (r for r in resources if r["type"] in POD_CREATORS):
        ns = creator["inputs"]["metadata"]["namespace"]
        manifest = {**creator["inputs"], "kind": creator["type"].rsplit(":", 1)[-1]}
        for part, template in pod_templates(manifest):
            sa = template["spec"].get("serviceAccountName")
            if (ns, sa) in ids:
                annotations = (template.get("metadata") or {}).get("annotations") or {}
                assert annotations.get(IDENTITY_ANNOTATION) == ids[(ns, sa)], (
                    creator["name"],
                    part,
                )
                checked += 1
    assert checked >= (5 if stack == "full" else 4)
