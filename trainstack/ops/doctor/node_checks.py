"""Kubernetes nodes and CRDs: do GPU and EFA nodes advertise their devices, and are the CRDs of
the job kinds and of Karpenter installed. Pure functions over the client's V1Node and
V1CustomResourceDefinition models."""

from __future__ import annotations

from components.gpu import NAMESPACE as PLUGINS_NAMESPACE
from components.gpu import NVIDIA_RELEASE
from components.scheduling import EFA_LABEL, GPU_LABEL

from .results import FAIL, OK, WARN, Result, ok

GPU_RESOURCE = "nvidia.com/gpu"
EFA_RESOURCE = "vpc.amazonaws.com/efa"
REQUIRED_CRDS = {
    "pytorchjobs.kubeflow.org": "training operator (PyTorchJob)",
    "rayjobs.ray.io": "KubeRay (RayJob)",
    "rayclusters.ray.io": "KubeRay (RayCluster)",
    "nodepools.karpenter.sh": "Karpenter (NodePool)",
    "ec2nodeclasses.karpenter.k8s.aws": "Karpenter (EC2NodeClass)",
}
# Installed only where a stack uses them (components/operators.py): checked when present.
OPTIONAL_CRDS = {
    "trainjobs.trainer.kubeflow.org": "Kubeflow Trainer v2 (TrainJob)",
    "trainingruntimes.trainer.kubeflow.org": "Kubeflow Trainer v2 (TrainingRuntime)",
    "jobsets.jobset.x-k8s.io": "JobSet (a TrainJob's pods)",
    "clusterqueues.kueue.x-k8s.io": "Kueue (ClusterQueue)",
    "localqueues.kueue.x-k8s.io": "Kueue (LocalQueue)",
    "resourceflavors.kueue.x-k8s.io": "Kueue (ResourceFlavor)",
    "workloads.kueue.x-k8s.io": "Kueue (Workload)",
    "workloadpriorityclasses.kueue.x-k8s.io": "Kueue (WorkloadPriorityClass)",
}


def labels_of(obj) -> dict[str, str]:
    return (obj.metadata.labels if obj.metadata else None) or {}


def is_ready(node) -> bool:
    conds = (node.status.conditions if node.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conds)


def _allocatable(node, resource: str) -> int:
    from kubernetes.utils import parse_quantity

    value = ((node.status.allocatable if node.status else None) or {}).get(resource)
    try:
        return int(parse_quantity(value)) if value is not None else 0
    except ValueError:
        return 0


def labelled(nodes: list, label: str) -> list:
    return [n for n in nodes if labels_of(n).get(label) == "true"]


def _check_device(
    nodes: list, *, name: str, label: str, resource: str, plugin: str, none_status: str, why: str
) -> Result:
    chosen = labelled(nodes, label)
    if not chosen:
        return Result(
            name,
            none_status,
            f"no node labelled {label}=true is running",
            "nothing to verify until Karpenter or a node group starts one",
            ""
            if none_status == OK
            else "start a job (Karpenter launches a node) and run doctor again",
        )
    ready = [n for n in chosen if is_ready(n)]
    missing = sorted(n.metadata.name for n in ready if _allocatable(n, resource) <= 0)
    not_ready = sorted(n.metadata.name for n in chosen if not is_ready(n))
    if missing:
        first = missing[0]
        return Result(
            name,
            FAIL,
            f"{len(missing)} of {len(ready)} Ready node(s) expose no "
            f"{resource}: {', '.join(missing)}",
            why,
            f"kubectl -n {PLUGINS_NAMESPACE} get pods -o wide "
            f"--field-selector spec.nodeName={first} | grep {plugin}; "
            f"kubectl describe node {first}",
        )
    total = sum(_allocatable(n, resource) for n in ready)
    detail = f"{len(ready)} Ready node(s), {total} {resource} allocatable"
    if not_ready:
        return Result(
            name,
            WARN,
            f"{detail}; NotReady: {', '.join(not_ready)}",
            "NotReady nodes take no pods; new nodes turn Ready within minutes",
            f"kubectl describe node {not_ready[0]}",
        )
    return ok(name, detail)


def check_gpu_nodes(nodes: list) -> Result:
    return _check_device(
        nodes,
        name="GPU nodes",
        label=GPU_LABEL,
        resource=GPU_RESOURCE,
        plugin=NVIDIA_RELEASE,
        none_status=WARN,
        why="pods requesting nvidia.com/gpu stay Pending on such a node: the NVIDIA device "
        "plugin is not running there or failed to find the driver",
    )


def check_efa_nodes(nodes: list) -> Result:
    return _check_device(
        nodes,
        name="EFA nodes",
        label=EFA_LABEL,
        resource=EFA_RESOURCE,
        plugin="efa",
        none_status=OK,
        why="EFA jobs request vpc.amazonaws.com/efa and stay Pending; without EFA, NCCL falls "
        "back to TCP sockets at a fraction of the bandwidth",
    )


def check_crds(crds: list) -> Result:
    present = {c.metadata.name: c for c in crds}
    missing = sorted(set(REQUIRED_CRDS) - set(present))
    wanted = set(REQUIRED_CRDS) | set(OPTIONAL_CRDS)
    not_established = sorted(
        name
        for name, crd in present.items()
        if name in wanted
        and not any(
            c.type == "Established" and c.status == "True"
            for c in ((crd.status.conditions if crd.status else None) or [])
        )
    )
    if missing or not_established:
        parts = [f"missing {n} ({REQUIRED_CRDS[n]})" for n in missing]
        parts += [f"{n} not Established" for n in not_established]
        return Result(
            "CRDs",
            FAIL,
            "; ".join(parts),
            "jobs of that kind are rejected by the API server "
            "(no matches for kind) or never reconciled",
            "pulumi up (installs the Karpenter CRD chart, the training operator, KubeRay "
            "and, where the stack uses them, Kueue and Trainer v2); "
            "`kubectl get crd | grep -E 'kubeflow|ray|karpenter|kueue|jobset'`",
        )
    return ok("CRDs", f"{len(REQUIRED_CRDS)} present and Established")
