"""`trainstack:jobsNamespace`: refused when Kubernetes would refuse it, when the cluster owns it,
or when an add-on runs there; one line naming the key (workloads.check_jobs_namespace)."""

import copy

import pytest

from components import config, gpu, karpenter, kueue, operators, volume_prepare
from components.config import ConfigError, workloads

NAMESPACES_REFUSED = [
    ("kube-system", "Kubernetes system namespace"),
    ("kube-public", "Kubernetes system namespace"),
    ("kube-node-lease", "Kubernetes system namespace"),
    ("kube-anything", "Kubernetes system namespace"),
    ("default", "Kubernetes system namespace"),
    ("kubeflow", "training operator runs there"),
    ("kuberay-system", "KubeRay operator runs there"),
    ("kueue-system", "Kueue runs there"),
    ("amazon-cloudwatch", "CloudWatch agent runs there"),
    ("trainstack-volumes", "FSx root-preparation Job runs there"),  # only "baseline" there
    ("Training", "lowercase RFC 1123 label"),
    ("training_jobs", "lowercase RFC 1123 label"),
    ("training.jobs", "lowercase RFC 1123 label"),
    ("-training", "lowercase RFC 1123 label"),
    ("training-", "lowercase RFC 1123 label"),
    ("", "lowercase RFC 1123 label"),
    ("n" * 64, "at most 63"),
]
NAMESPACES_ACCEPTED = [
    "training",
    "ml-jobs",
    "team-a",
    "1st",
    "n" * 63,
    "kubeflow-jobs",
    "my-kube-system",
    "defaults",
]


@pytest.mark.parametrize(
    "ns,phrase", NAMESPACES_REFUSED, ids=[n[:20] or "empty" for n, _ in NAMESPACES_REFUSED]
)
def test_jobs_namespace_refused_in_one_line_naming_the_key(dev, ns, phrase):
    data = copy.deepcopy(dev)
    data["jobsNamespace"] = ns
    with pytest.raises(ConfigError) as err:
        config.parse(data, "us-west-2")
    assert len(err.value.issues) == 1, err.value.issues
    line = err.value.issues[0]
    assert line.startswith(f"trainstack:jobsNamespace = {ns!r}: "), line
    assert phrase in line, line


@pytest.mark.parametrize("ns", NAMESPACES_ACCEPTED)
def test_jobs_namespace_accepted(dev, ns):
    data = copy.deepcopy(dev)
    data["jobsNamespace"] = ns
    assert config.parse(data, "us-west-2").jobs_namespace == ns


def test_jobs_namespace_checked_when_another_section_does_not_parse(dev):
    data = copy.deepcopy(dev)
    data["jobsNamespace"] = "kube-system"
    data["network"]["azCount"] = "two"
    with pytest.raises(ConfigError) as err:
        config.parse(data, "us-west-2")
    assert any(i.startswith("trainstack:jobsNamespace = 'kube-system'") for i in err.value.issues)


def test_every_namespace_an_addon_installs_into_is_refused():
    """The list follows the components: each add-on's namespace, as the code installs it."""
    addon_namespaces = {
        karpenter.NAMESPACE,
        gpu.NAMESPACE,
        operators.KUBERAY_NAMESPACE,
        kueue.NAMESPACE,
        # the training operator's standalone overlay (kubeflow/trainer v1.9.3
        # manifests/overlays/standalone/kustomization.yaml: namespace: kubeflow)
        operators.TRAINING_OPERATOR_NAMESPACE,
        volume_prepare.NAMESPACE,
    }
    for ns in addon_namespaces:
        assert workloads.check_jobs_namespace(ns), ns
    assert addon_namespaces <= {n for n, _ in NAMESPACES_REFUSED}
