"""`trainstack:nodeHealth`: the EKS node monitoring agent add-on, which reports GPU, network,
storage, kernel and container-runtime faults as node conditions, and automatic repair of the
nodes those conditions mark (GPU managed node groups and Karpenter NodePools). What each does is
in docs/operations.md, "Node health and automatic repair"."""

from __future__ import annotations

from pydantic import Field

from .. import versions
from .base import _Model

# An EKS add-on build: v<major>.<minor>.<patch>-eksbuild.<n>.
ADDON_BUILD = r"^v\d+\.\d+\.\d+-eksbuild\.\d+$"


class NodeHealthConfig(_Model):
    # The `eks-node-monitoring-agent` add-on on every node (GPU nodes included).
    monitoring_agent: bool = True
    agent_version: str = Field(default=versions.NODE_MONITORING_AGENT_VERSION, pattern=ADDON_BUILD)
    # Replace (or, on managed groups, reboot) a GPU node whose conditions stay unhealthy: the
    # GPU managed node groups' nodeRepairConfig and Karpenter's NodeRepair feature gate. Without
    # the agent, repair still acts on a node that stops being Ready.
    auto_repair: bool = True
