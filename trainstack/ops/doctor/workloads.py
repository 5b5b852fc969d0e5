"""The add-ons a training job depends on (Karpenter, the device plugins, the training operator,
KubeRay, Kueue, Kubeflow Trainer and its JobSet) as Deployments and DaemonSets: present, ready,
and covering the nodes they must. The add-ons a stack may leave out are checked where their CRDs
say the stack installed them."""

from __future__ import annotations

from dataclasses import dataclass

from components.gpu import EFA_RELEASE, NVIDIA_RELEASE
from components.gpu import NAMESPACE as PLUGINS_NAMESPACE
from components.karpenter import NAMESPACE as KARPENTER_NAMESPACE
from components.karpenter import RELEASE as KARPENTER_RELEASE
from components.kueue import CONTROLLER_DEPLOYMENT as KUEUE_CONTROLLER
from components.kueue import NAMESPACE as KUEUE_NAMESPACE
from components.operators import (
    KUBEFLOW_TRAINER_NAMESPACE,
    KUBEFLOW_TRAINER_RELEASE,
    KUBERAY_NAMESPACE,
    KUBERAY_RELEASE,
    TRAINING_OPERATOR_NAMESPACE,
)
from components.scheduling import EFA_LABEL, GPU_LABEL

from .node_checks import is_ready, labelled, labels_of
from .results import FAIL, WARN, Result, ok


@dataclass(frozen=True)
class Component:
    title: str
    kind: str  # Deployment | DaemonSet
    namespace: str
    release: str  # the object's name, or the prefix a chart gives it
    why: str
    node_label: str | None = None  # DaemonSets: the nodes it must cover
    optional_without_nodes: bool = False  # installed only when such nodes are in use
    # Installed only where the stack asks for it: checked when this CRD is in the cluster.
    installed_with: str | None = None


COMPONENTS = (
    Component(
        "Karpenter",
        "Deployment",
        KARPENTER_NAMESPACE,
        KARPENTER_RELEASE,
        "no controller launches GPU nodes: pending training pods wait forever",
    ),
    Component(
        "NVIDIA device plugin",
        "DaemonSet",
        PLUGINS_NAMESPACE,
        NVIDIA_RELEASE,
        "GPU nodes advertise no nvidia.com/gpu, so GPU pods never schedule",
        node_label=GPU_LABEL,
    ),
    Component(
        "EFA device plugin",
        "DaemonSet",
        PLUGINS_NAMESPACE,
        EFA_RELEASE,
        "EFA nodes advertise no vpc.amazonaws.com/efa, so EFA jobs never schedule",
        node_label=EFA_LABEL,
        optional_without_nodes=True,
    ),
    Component(
        "training operator",
        "Deployment",
        TRAINING_OPERATOR_NAMESPACE,
        "training-operator",
        "PyTorchJobs are accepted but no pods are created for them",
    ),
    Component(
        "KubeRay operator",
        "Deployment",
        KUBERAY_NAMESPACE,
        KUBERAY_RELEASE,
        "RayJobs/RayClusters are accepted but no Ray pods are created",
    ),
    # The Deployments' names are the charts' (Kueue's: components/kueue.py; kubeflow/trainer
    # v2.2.1 templates/manager/_helpers.tpl: <fullname>-controller-manager; its JobSet
    # subchart's fullnameOverride `jobset` in values.yaml and jobset v0.11.0
    # templates/controller/_helpers.tpl: <fullname>-controller).
    Component(
        "Kueue",
        "Deployment",
        KUEUE_NAMESPACE,
        KUEUE_CONTROLLER,
        "its webhooks fail closed: no PyTorchJob, RayJob or TrainJob can be created, and "
        "queued jobs are never admitted",
        installed_with="clusterqueues.kueue.x-k8s.io",
    ),
    Component(
        "Kubeflow Trainer",
        "Deployment",
        KUBEFLOW_TRAINER_NAMESPACE,
        f"{KUBEFLOW_TRAINER_RELEASE}-controller-manager",
        "TrainJobs are accepted (or refused by its webhook) but get no JobSet, so no pods",
        installed_with="trainjobs.trainer.kubeflow.org",
    ),
    Component(
        "JobSet",
        "Deployment",
        KUBEFLOW_TRAINER_NAMESPACE,
        "jobset-controller",
        "a TrainJob's JobSet is created but no Jobs or pods are made from it",
        installed_with="jobsets.jobset.x-k8s.io",
    ),
)


def find_workload(objs: list, comp: Component):
    """The object of a component: its exact name, else the shortest name the chart derived from
    the release (charts add suffixes such as `-daemonset`)."""
    here = [o for o in objs if o.metadata.namespace == comp.namespace]
    exact = [o for o in here if o.metadata.name == comp.release]
    if exact:
        return exact[0]
    derived = [
        o
        for o in here
        if o.metadata.name.startswith(comp.release + "-")
        or labels_of(o).get("app.kubernetes.io/instance") == comp.release
    ]
    return min(derived, key=lambda o: len(o.metadata.name), default=None)


def _inspect(comp: Component, name: str) -> str:
    kind = comp.kind.lower()
    return (
        f"kubectl -n {comp.namespace} describe {kind} {name}; "
        f"kubectl -n {comp.namespace} logs {kind}/{name} --tail=50"
    )


def check_component(comp: Component, obj, nodes: list) -> Result:
    label = comp.title
    covered = (
        len([n for n in labelled(nodes, comp.node_label) if is_ready(n)]) if comp.node_label else 0
    )
    if obj is None:
        if comp.optional_without_nodes and not covered:
            return Result(
                label,
                WARN,
                f"no {comp.kind} {comp.namespace}/{comp.release} "
                f"(fine while no {comp.node_label}=true node exists)",
                comp.why,
                "pulumi up with a pool or node group that sets efa: true",
            )
        return Result(
            label,
            FAIL,
            f"no {comp.kind} {comp.namespace}/{comp.release}*",
            comp.why,
            f"pulumi up; kubectl -n {comp.namespace} get {comp.kind.lower()}s",
        )
    name = obj.metadata.name
    status = obj.status
    if comp.kind == "Deployment":
        want = obj.spec.replicas if obj.spec and obj.spec.replicas is not None else 1
        ready = (status.ready_replicas if status else None) or 0
        if want == 0:
            return Result(
                label,
                FAIL,
                f"{name} scaled to 0 replicas",
                comp.why,
                f"kubectl -n {comp.namespace} scale deploy {name} --replicas=1",
            )
        if ready < want:
            return Result(
                label,
                FAIL,
                f"{name}: {ready}/{want} replicas ready",
                comp.why,
                _inspect(comp, name),
            )
        return ok(label, f"{name}: {ready}/{want} ready")
    desired = (status.desired_number_scheduled if status else None) or 0
    ready = (status.number_ready if status else None) or 0
    if desired < covered:
        return Result(
            label,
            FAIL,
            f"{name} is scheduled on {desired} of {covered} Ready {comp.node_label}=true node(s)",
            comp.why + " (its affinity or tolerations exclude some nodes)",
            f"kubectl -n {comp.namespace} get ds {name} -o yaml | grep -A8 affinity",
        )
    if ready < desired:
        return Result(
            label, FAIL, f"{name}: {ready}/{desired} pods ready", comp.why, _inspect(comp, name)
        )
    if desired == 0:
        return ok(label, f"{name}: idle (no {comp.node_label}=true node running)")
    return ok(label, f"{name}: {ready}/{desired} pods ready")


def check_components(
    deployments: list, daemonsets: list, nodes: list, crd_names: set[str]
) -> list[Result]:
    """Every component the cluster should run; one the stack left out (its CRD absent) is said
    to be not installed rather than missing."""
    return [
        check_component(
            c, find_workload(deployments if c.kind == "Deployment" else daemonsets, c), nodes
        )
        if c.installed_with is None or c.installed_with in crd_names
        else ok(c.title, f"not installed (no {c.installed_with} CRD)")
        for c in COMPONENTS
    ]
