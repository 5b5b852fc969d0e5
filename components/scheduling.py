"""How pods find nodes: the GPU taint and the labels every trainstack node carries."""

from __future__ import annotations

from .config import EFA_LABEL, GPU_LABEL, POOL_LABEL, SYSTEM_LABEL, NodeGroupConfig, NodePoolConfig

__all__ = [
    "EFA_LABEL",
    "GPU_LABEL",
    "GPU_TAINT",
    "GPU_TOLERATION",
    "POOL_LABEL",
    "SYSTEM_LABEL",
    "eks_taint",
    "node_labels",
]

# GPU nodes repel everything that does not ask for a GPU (node agents tolerate all taints).
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
GPU_TOLERATION = {"key": GPU_TAINT["key"], "operator": "Exists", "effect": "NoSchedule"}


def node_labels(
    pool: str,
    group: NodeGroupConfig | NodePoolConfig | None = None,
    *,
    gpu: bool = True,
    efa: bool = False,
) -> dict[str, str]:
    """Labels every node of a pool carries; device plugins and jobs select on them.

    The pool's own `labels` come first so the stack's win: config refuses the stack's keys as
    user labels, and one that slipped past would still not move a job's pods."""
    labels = {POOL_LABEL: pool}
    if gpu:
        labels[GPU_LABEL] = "true"
    else:
        labels[SYSTEM_LABEL] = "true"
    if efa:
        labels[EFA_LABEL] = "true"
    return {**(group.labels if group else {}), **labels}


def gpu_node_affinity() -> dict:
    """A pod affinity to the nodes the stack labels as GPU nodes (node_labels): what add-on
    DaemonSets meant for GPUs select instead of their charts' lists of instance types, which lag
    behind the types a pool may launch."""
    term = {"matchExpressions": [{"key": GPU_LABEL, "operator": "In", "values": ["true"]}]}
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
        }
    }


def eks_taint(taint: dict[str, str]) -> dict[str, str]:
    """The EKS node group API spells effects NO_SCHEDULE where Kubernetes says NoSchedule."""
    effect = {
        "NoSchedule": "NO_SCHEDULE",
        "NoExecute": "NO_EXECUTE",
        "PreferNoSchedule": "PREFER_NO_SCHEDULE",
    }[taint["effect"]]
    return {**taint, "effect": effect}
