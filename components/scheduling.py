"""How pods find nodes: the GPU taint and the labels every trainstack node carries."""

from __future__ import annotations

from .config import NodeGroupConfig

# GPU nodes repel everything that does not ask for a GPU (node agents tolerate all taints).
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
GPU_TOLERATION = {"key": GPU_TAINT["key"], "operator": "Exists", "effect": "NoSchedule"}
POOL_LABEL = "trainstack.io/pool"
GPU_LABEL = "trainstack.io/gpu"
EFA_LABEL = "trainstack.io/efa"
SYSTEM_LABEL = "trainstack.io/system"


def node_labels(pool: str, group: NodeGroupConfig | None = None, *, gpu: bool = True,
                efa: bool = False) -> dict[str, str]:
    """Labels every node of a pool carries; device plugins and jobs select on them."""
    labels = {POOL_LABEL: pool}
    if gpu:
        labels[GPU_LABEL] = "true"
    else:
        labels[SYSTEM_LABEL] = "true"
    if efa:
        labels[EFA_LABEL] = "true"
    return {**labels, **(group.labels if group else {})}


def eks_taint(taint: dict[str, str]) -> dict[str, str]:
    """The EKS node group API spells effects NO_SCHEDULE where Kubernetes says NoSchedule."""
    effect = {"NoSchedule": "NO_SCHEDULE", "NoExecute": "NO_EXECUTE",
              "PreferNoSchedule": "PREFER_NO_SCHEDULE"}[taint["effect"]]
    return {**taint, "effect": effect}
