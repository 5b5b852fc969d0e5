"""Kueue as the stack installs it (components/kueue.py) and the queue objects it renders
(components/kueue_objects.py), against the upstream facts they rely on, held here with the
file and tag each comes from, and against the pinned kueue.x-k8s.io/v1beta2 CRDs, CEL included."""

import copy

import pytest
import yaml
from support import DELETE, set_path, stack_data

from components import config, kueue, kueue_objects, queueing, versions
from components.config import PlatformConfig
from trainstack.offline import crds, schemas

# kubernetes-sigs/kueue v0.19.2 charts/kueue/values.yaml: the keys the stack sets (a key whose
# value is a free-form map or list, such as nodeSelector, is set whole).
CHART_KEYS = {
    "enablePrometheus",
    "enableCertManager",
    "enableKueueViz",
    "controllerManager.replicas",
    "controllerManager.nodeSelector",
    "controllerManager.topologySpreadConstraints",
    "controllerManager.podDisruptionBudget.enabled",
    "controllerManager.podDisruptionBudget.minAvailable",
    "controllerManager.featureGates",
    "controllerManager.manager.image.repository",
    "controllerManager.manager.image.tag",
    "controllerManager.manager.image.pullPolicy",
    "controllerManager.manager.priorityClassName",
    "controllerManager.manager.resources",
    "controllerManager.manager.podSecurityContext",
    "controllerManager.manager.containerSecurityContext",
    "managerConfig.controllerManagerConfigYaml",
}
# The same file: the image the chart in git points at (the published chart is rewritten to
# registry.k8s.io/kueue/kueue:v<version> by hack/helm-chart-package.sh).
GIT_CHART_IMAGE = "us-central1-docker.pkg.dev/k8s-staging-images/kueue/kueue"
# v0.19.2 apis/config/v1beta2/configuration_types.go: Configuration's fields (json names) and
# those of the sections the stack fills.
CONFIGURATION_FIELDS = {
    "apiVersion",
    "kind",
    "namespace",
    "manageJobsWithoutQueueName",
    "managedJobsNamespaceSelector",
    "internalCertManagement",
    "waitForPodsReady",
    "clientConnection",
    "integrations",
    "multiKueue",
    "fairSharing",
    "admissionFairSharing",
    "resources",
    "featureGates",
    "objectRetentionPolicies",
    "visibilityServer",
    "webhook",
    "leaderElection",
    "metrics",
    "health",
    "pprofBindAddress",
    "controller",
    "tls",
}
WAIT_FOR_PODS_READY_FIELDS = {"timeout", "blockAdmission", "requeuingStrategy", "recoveryTimeout"}
REQUEUING_FIELDS = {"timestamp", "backoffLimitCount", "backoffBaseSeconds", "backoffMaxSeconds"}
RESOURCES_FIELDS = {
    "quotaCheckStrategy",
    "excludeResourcePrefixes",
    "transformations",
    "deviceClassMappings",
}
# Integrations.frameworks, the names it accepts.
FRAMEWORK_NAMES = {
    "batch/job",
    "kubeflow.org/mpijob",
    "ray.io/rayjob",
    "ray.io/rayservice",
    "ray.io/raycluster",
    "jobset.x-k8s.io/jobset",
    "kubeflow.org/paddlejob",
    "kubeflow.org/pytorchjob",
    "kubeflow.org/tfjob",
    "kubeflow.org/xgboostjob",
    "kubeflow.org/jaxjob",
    "trainer.kubeflow.org/trainjob",
    "workload.codeflare.dev/appwrapper",
    "sparkoperator.k8s.io/sparkapplication",
    "pod",
    "deployment",
    "statefulset",
    "leaderworkerset.x-k8s.io/leaderworkerset",
}
# What the pods request (components/pod_spec.py resources) that the queues do not cover.
EFA = "vpc.amazonaws.com/efa"


def cfg_of(stack: str, edits: dict | None = None) -> PlatformConfig:
    """An example stack's config with `edits` ({dotted path: value}, support.DELETE removes)."""
    data, region = stack_data(stack)
    data = copy.deepcopy(data)
    for path, value in (edits or {}).items():
        set_path(data, path, value)
    return config.parse(data, region)


def leaves(values, at=""):
    if isinstance(values, dict) and values:
        for k, v in values.items():
            yield from leaves(v, f"{at}.{k}" if at else k)
    else:
        yield at


def test_every_chart_value_is_a_key_of_the_pinned_chart_and_the_image_is_the_published_one():
    cfg = cfg_of("dev")
    values = kueue.chart_values(cfg, ("trainstack.io/system", "true"))
    for path in leaves(values):
        assert any(path == k or path.startswith(k + ".") for k in CHART_KEYS), path
    manager = values["controllerManager"]["manager"]
    assert manager["image"] == {
        "repository": "registry.k8s.io/kueue/kueue",
        "tag": f"v{versions.KUEUE_VERSION}",
        "pullPolicy": "IfNotPresent",
    }
    assert manager["image"]["repository"] != GIT_CHART_IMAGE
    # Two replicas on the system nodes, a PDB: the webhooks fail closed.
    assert values["controllerManager"]["replicas"] == 2
    assert values["controllerManager"]["podDisruptionBudget"] == {
        "enabled": True,
        "minAvailable": 1,
    }
    assert values["controllerManager"]["nodeSelector"] == {"trainstack.io/system": "true"}


def test_the_configuration_pins_what_the_stack_relies_on():
    cfg = cfg_of("efa")
    values = kueue.chart_values(cfg, ("trainstack.io/system", "true"))
    conf = yaml.safe_load(values["managerConfig"]["controllerManagerConfigYaml"])
    assert conf == kueue.configuration(cfg)
    assert set(conf) <= CONFIGURATION_FIELDS
    ready = conf["waitForPodsReady"]
    assert set(ready) <= WAIT_FOR_PODS_READY_FIELDS
    assert set(ready["requeuingStrategy"]) <= REQUEUING_FIELDS
    assert ready["timeout"] == "30m" and ready["blockAdmission"] is False
    # Exactly the kinds the stack renders; PyTorchJob is commented out of the chart's default.
    frameworks = conf["integrations"]["frameworks"]
    assert set(frameworks) <= FRAMEWORK_NAMES
    assert frameworks == ["kubeflow.org/pytorchjob", "ray.io/rayjob"]
    assert "pod" not in frameworks and "deployment" not in frameworks
    # EFA is requested by the pods and covered by no queue: excluded, by prefix.
    assert set(conf["resources"]) <= RESOURCES_FIELDS
    assert any(EFA.startswith(p) for p in conf["resources"]["excludeResourcePrefixes"])
    # The jobs namespace only; never kube-system or Kueue's own (pkg/config/validation.go).
    selector = conf["managedJobsNamespaceSelector"]["matchExpressions"]
    assert selector == [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["training"]}
    ]
    no_ray = cfg_of("efa", {"addons.kuberay.enabled": False, "trainingJobs.verl-grpo": DELETE})
    assert kueue.configuration(no_ray)["integrations"]["frameworks"] == ["kubeflow.org/pytorchjob"]


def test_jobs_carry_their_queue_priority_and_hold():
    cfg = cfg_of("efa")
    assert queueing.job_labels(cfg, "llama-8b") == {
        queueing.QUEUE_LABEL: "research",
        queueing.PRIORITY_LABEL: "release",
    }
    # No queue: its pool's default queue; no priority: queues.defaultPriority.
    assert queueing.job_labels(cfg, "verl-grpo") == {
        queueing.QUEUE_LABEL: "efa",
        queueing.PRIORITY_LABEL: "batch",
    }
    assert queueing.job_annotations(cfg, "llama-8b") == {
        "kueue.x-k8s.io/admission-gated-by": "trainstack.io/held"
    }
    launched = cfg_of("efa", {"trainingJobs.llama-8b.suspend": False})
    assert queueing.job_annotations(launched, "llama-8b") == {}
    off = cfg_of(
        "efa",
        {
            "addons.kueue.enabled": False,
            "queues": DELETE,
            "trainingJobs.llama-8b.queue": DELETE,
            "trainingJobs.llama-8b.priority": DELETE,
        },
    )
    assert not queueing.queued(off)
    assert queueing.job_labels(off, "llama-8b") == queueing.job_annotations(off, "llama-8b") == {}


def all_objects(cfg: PlatformConfig) -> list[dict]:
    return kueue_objects.cluster_objects(cfg) + kueue_objects.local_queues(cfg)


@pytest.mark.usefixtures("pinned_crds")
def test_every_rendered_kueue_object_validates_against_the_pinned_crds():
    teams = cfg_of(
        "dev",
        {
            "queues": {
                "teams": {
                    "research": {"pools": {"large": 16, "small": 2}},
                    "prod": {"pools": {"gpu-g5": 1}, "borrow": False},
                },
                "priorities": {"release": {"value": 1000, "description": "release runs"}},
                "preemption": {
                    "withinQueue": "LowerOrNewerEqualPriority",
                    "reclaim": "LowerPriority",
                },
            }
        },
    )
    for cfg in (cfg_of("dev"), cfg_of("efa"), teams):
        objs = all_objects(cfg)
        assert schemas.validate_all(objs, "1.34") == {}
    kinds = {o["kind"] for o in all_objects(teams)}
    assert kinds == {"WorkloadPriorityClass", "ResourceFlavor", "ClusterQueue", "LocalQueue"}
    # The CRDs' CEL rules run: a borrowing limit without a cohort is refused.
    (prod,) = [o for o in kueue_objects.cluster_objects(teams) if o["metadata"]["name"] == "prod"]
    del prod["spec"]["cohortName"]
    errors = schemas.validate_object(prod)
    assert any("borrowingLimit" in e for e in errors), errors


@pytest.mark.usefixtures("pinned_crds")
def test_every_cel_rule_of_the_pinned_kueue_crds_is_evaluated_here():
    for crd in (c for c in crds.PINNED if c.group == "kueue.x-k8s.io"):
        coverage = schemas.cel_rule_coverage(kueue_objects.API_VERSION, crd.kind)
        assert coverage["unchecked"] == [], (crd.kind, coverage["unchecked"])
