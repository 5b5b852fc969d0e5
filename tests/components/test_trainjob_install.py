"""Kubeflow Trainer v2 in the plan: installed (with its JobSet) only for a stack with a
`framework: trainjob` job, on the system nodes, with values that are the pinned charts' own keys
and no weaker than their defaults; side by side with the training operator v1, whose names it
shares none of; and the full stack's TrainJob beside its runtime and NetworkPolicy."""

from __future__ import annotations

import json

from support import plan
from workload_support import stack_plan

from components import operators, versions
from components.config.addons import ADDON_NAMESPACES
from components.scheduling import SYSTEM_LABEL

RELEASE = "kubernetes:helm.sh/v3:Release"
TRAINJOB = "kubernetes:trainer.kubeflow.org/v1alpha1:TrainJob"
RUNTIME = "kubernetes:trainer.kubeflow.org/v1alpha1:TrainingRuntime"

# The keys the stack sets, as the charts define them: kubeflow/trainer v2.2.1
# charts/kubeflow-trainer/values.yaml, and under `jobset.` kubernetes-sigs/jobset v0.11.0
# charts/jobset/values.yaml (the subchart Trainer's Chart.yaml pins: jobset 0.11.0, condition
# jobset.install). A value below a key in FREE_FORM is the object the template copies whole.
CHART_KEYS = {
    "manager.nodeSelector",
    "manager.resources",
    "manager.securityContext",
    "manager.config.featureGates",
    "runtimes.defaultEnabled",
    "jobset.install",
    "jobset.controller.nodeSelector",
    "jobset.controller.resources",
    "jobset.controller.securityContext",
    "jobset.controller.podSecurityContext",
}
FREE_FORM = {"nodeSelector", "resources", "securityContext", "podSecurityContext", "featureGates"}
# The charts' defaults for what the stack restates (same files): the stack's values keep every
# one of them. The Trainer chart has no readOnlyRootFilesystem (its kustomize base,
# manifests/base/manager/manager.yaml, has), nor any pod securityContext key.
CHART_DEFAULTS = {
    "manager.securityContext": {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "jobset.controller.securityContext": {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    },
    "jobset.controller.podSecurityContext": {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
}
# What each install names cluster-wide or as its home: training-operator v1.9.3
# (manifests/overlays/standalone over manifests/base: namespace, CRDs, webhook patch.yaml,
# rbac/role.yaml), Trainer v2.2.1's chart as release kubeflow-trainer (templates/*/_helpers.tpl:
# fullname = the release name, "<fullname>-controller-manager"; webhook configurations by fixed
# name; CRDs in crds/) and JobSet v0.11.0's chart with Trainer's fullnameOverride `jobset`
# (templates/webhook/_helpers.tpl, controller/_helpers.tpl "<fullname>-controller").
NAMES = {
    "training operator v1": {
        "namespace": {"kubeflow"},
        "CRD group": {"kubeflow.org"},
        "webhook configuration": {"validator.training-operator.kubeflow.org"},
        "ClusterRole": {"training-operator"},
    },
    "Trainer v2 and JobSet": {
        "namespace": {"kubeflow-system"},
        "CRD group": {"trainer.kubeflow.org", "jobset.x-k8s.io"},
        "webhook configuration": {
            "defaulter.trainer.kubeflow.org",
            "validator.trainer.kubeflow.org",
            "jobset-mutating-webhook-configuration",
            "jobset-validating-webhook-configuration",
        },
        "ClusterRole": {"kubeflow-trainer-controller-manager", "jobset-controller"},
    },
}


def _key_paths(values: dict, at: str = "") -> set[str]:
    out = set()
    for k, v in values.items():
        path = f"{at}.{k}" if at else k
        out |= {path} if k in FREE_FORM or not isinstance(v, dict) else _key_paths(v, path)
    return out


def _at(values: dict, path: str):
    for part in path.split("."):
        values = values[part]
    return values


def test_the_values_are_the_pinned_charts_keys_and_keep_their_defaults():
    values = operators.kubeflow_trainer_values((SYSTEM_LABEL, "true"))
    assert _key_paths(values) == CHART_KEYS
    for path, default in CHART_DEFAULTS.items():
        assert _at(values, path).items() >= default.items(), path
    assert values["manager"]["securityContext"]["readOnlyRootFilesystem"] is True
    assert values["manager"]["config"]["featureGates"] == {"TrainJobStatus": False}
    for path in ("manager.nodeSelector", "jobset.controller.nodeSelector"):
        assert _at(values, path) == {SYSTEM_LABEL: "true"}


def test_the_trainer_is_installed_only_for_a_stack_that_runs_trainjobs():
    assert [
        r for r in plan("dev").plan.of_type(RELEASE) if r.inputs["name"] == "kubeflow-trainer"
    ] == []
    (release,) = [
        r
        for r in stack_plan("full").plan.of_type(RELEASE)
        if r.inputs["name"] == operators.KUBEFLOW_TRAINER_RELEASE
    ]
    inputs = json.loads(json.dumps(release.inputs))
    assert inputs["chart"] == "oci://ghcr.io/kubeflow/charts/kubeflow-trainer"
    assert inputs["version"] == versions.KUBEFLOW_TRAINER_VERSION == "2.2.1"
    assert inputs["namespace"] == "kubeflow-system" and inputs["createNamespace"] is True
    assert inputs["values"] == operators.kubeflow_trainer_values((SYSTEM_LABEL, "true"))


def test_training_operator_v1_and_trainer_v2_install_side_by_side_without_a_shared_name():
    result = stack_plan("full")
    overlay = result.plan.one("kubernetes:kustomize/v2:Directory")
    assert "manifests/overlays/standalone?ref=v1.9.3" in overlay.inputs["directory"]
    releases = {r.inputs["name"]: r.inputs["namespace"] for r in result.plan.of_type(RELEASE)}
    assert releases[operators.KUBEFLOW_TRAINER_RELEASE] == operators.KUBEFLOW_TRAINER_NAMESPACE
    assert operators.TRAINING_OPERATOR_NAMESPACE in NAMES["training operator v1"]["namespace"]
    assert operators.KUBEFLOW_TRAINER_NAMESPACE in NAMES["Trainer v2 and JobSet"]["namespace"]
    v1, v2 = NAMES.values()
    for what in v1:
        assert v1[what].isdisjoint(v2[what]), what
    # No other release of the stack lives in either's namespace, and jobs may use neither.
    others = {ns for name, ns in releases.items() if name != operators.KUBEFLOW_TRAINER_RELEASE}
    assert others.isdisjoint(v1["namespace"] | v2["namespace"])
    assert (v1["namespace"] | v2["namespace"]) <= set(ADDON_NAMESPACES)


def test_the_full_stack_runs_a_trainjob_after_its_runtime_within_its_network_policy():
    result = stack_plan("full")
    (train,) = [m for m in result.manifests if m["kind"] == "TrainJob"]
    (runtime,) = [m for m in result.manifests if m["kind"] == "TrainingRuntime"]
    assert train["metadata"]["name"] == "llama-trainjob"
    assert train["spec"]["runtimeRef"]["name"] == runtime["metadata"]["name"]
    assert train["spec"]["trainer"] == {"numNodes": 4, "numProcPerNode": 4}
    declared = result.plan.one(TRAINJOB)
    made = result.plan.one(RUNTIME)
    assert made.urn in declared.dependencies  # the Trainer's webhook needs the runtime first
    policies = {m["metadata"]["name"] for m in result.manifests if m["kind"] == "NetworkPolicy"}
    assert "job-llama-trainjob-trainjob" in policies
    node = runtime["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]
    assert node["template"]["spec"]["containers"][0]["resources"]["limits"]["vpc.amazonaws.com/efa"]
