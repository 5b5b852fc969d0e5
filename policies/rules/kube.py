"""Kubernetes object types and readers the Kubernetes rules share: where an object lives, the
pods of every workload in a stack, and label selectors as the API server evaluates them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .base import WORKLOADS, Planned, get, name_of, pod_templates

NAMESPACE = "kubernetes:core/v1:Namespace"
SERVICE = "kubernetes:core/v1:Service"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
PV = "kubernetes:core/v1:PersistentVolume"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
POD = "kubernetes:core/v1:Pod"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
DEPLOYMENT_PATCH = "kubernetes:apps/v1:DeploymentPatch"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
KUSTOMIZE_DIRECTORY = "kubernetes:kustomize/v2:Directory"
POD_IDENTITY_ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"

# The namespaced kinds the stack creates (every one is checked by no-default-namespace).
NAMESPACED = (
    *WORKLOADS,
    "kubernetes:trainer.kubeflow.org/v1alpha1:TrainJob",
    SERVICE,
    SERVICE_ACCOUNT,
    SECRET,
    CONFIG_MAP,
    PVC,
    NETWORK_POLICY,
    ROLE,
    ROLE_BINDING,
    DEPLOYMENT_PATCH,
)

DEFAULT_SERVICE_ACCOUNT = "default"


def namespace_of(props: Mapping[str, Any]) -> str:
    """An object's namespace; one without any lands in the provider's default, "default"."""
    return str(get(props, "metadata.namespace") or "default")


def kind_of(type_: str) -> str:
    return type_.rsplit(":", 1)[-1]


@dataclass(frozen=True)
class PodTemplate:
    """One pod template of one workload of the stack."""

    handle: Any
    type: str
    workload: str  # "PyTorchJob llama-8b"
    where: str  # its location in the workload's inputs
    namespace: str
    metadata: Mapping[str, Any]
    spec: Mapping[str, Any]

    @property
    def labels(self) -> Mapping[str, str]:
        return self.metadata.get("labels") or {}

    @property
    def service_account(self) -> str:
        # serviceAccountName unset: the namespace's "default" (deprecated serviceAccount too).
        sa = self.spec.get("serviceAccountName") or self.spec.get("serviceAccount")
        return str(sa or DEFAULT_SERVICE_ACCOUNT)

    @property
    def label(self) -> str:
        return f"{self.workload} {self.where}"


def pod_templates_of(resources: Sequence[Planned]) -> Iterator[PodTemplate]:
    """Every pod template of every workload in the stack (a bare Pod's metadata is its own)."""
    for handle, type_, props, _names in resources:
        if type_ not in WORKLOADS:
            continue
        namespace = namespace_of(props)
        workload = f"{kind_of(type_)} {name_of(props)}"
        for where, meta, spec in pod_templates(props):
            yield PodTemplate(handle, type_, workload, where, namespace, meta, spec)


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, Any]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) over `labels`; {} selects all."""
    selector = selector or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def empty_selector(selector: Any) -> bool:
    """A selector that names nothing: it selects every pod (or every namespace)."""
    if not isinstance(selector, Mapping):
        return selector is not None
    return not selector.get("matchLabels") and not selector.get("matchExpressions")
