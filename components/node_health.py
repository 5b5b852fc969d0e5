"""Node health: the EKS node monitoring agent add-on and automatic repair of GPU nodes.

The agent (aws/eks-node-monitoring-agent, pinned in versions.py) runs as a DaemonSet on every
node and, on NVIDIA nodes, a DCGM host engine beside it (the `dcgm-server` DaemonSet); it
reports faults as node conditions (jobwatch/diagnose/node_conditions.py lists them). Repair acts
on those conditions: a GPU managed node group's nodeRepairConfig (set here by a transform on the
node group pulumi-eks creates) and Karpenter's NodeRepair feature gate (karpenter.py). What each
does, and after how long, is in docs/operations.md, "Node health and automatic repair".
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from .scheduling import GPU_TOLERATION, gpu_node_affinity

ADDON = "eks-node-monitoring-agent"
# The child pulumi-eks's ManagedNodeGroup registers for the EKS node group (pulumi-eks
# nodejs/eks/nodes/nodegroup.ts creates an aws.eks.NodeGroup).
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
# Tolerates every taint: the agent must watch every node, the GPU nodes (nvidia.com/gpu
# NoSchedule) and nodes being drained or failing (NoExecute taints) above all.
EVERY_TAINT = {"operator": "Exists"}


def agent_values() -> dict[str, Any]:
    """The add-on's configurationValues. Keys are the add-on's schema at v1.7.0
    (charts/configuration.schema.json: nodeAgent and dcgmAgent each take tolerations and
    affinity; additionalProperties false), merged over the chart's values.yaml."""
    return {
        # The chart's default is the same; stated so a change of default cannot drop GPU nodes.
        "nodeAgent": {"tolerations": [EVERY_TAINT]},
        "dcgmAgent": {
            # The chart gives the DCGM host engine no tolerations, so on a tainted GPU node it
            # would never run, and the agent would report DCGMError (a GPU fault) there.
            "tolerations": [GPU_TOLERATION],
            # On every node the stack labels as a GPU node, instead of the chart's list of
            # instance types, which lags behind new ones.
            "affinity": gpu_node_affinity(),
        },
    }


def monitoring_agent(
    name: str,
    cluster_name: pulumi.Input[str],
    version: str,
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.eks.Addon:
    """The add-on. It needs no AWS credentials: it reads the node's logs and writes the node's
    conditions and events with its own ServiceAccount."""
    return aws.eks.Addon(
        name,
        cluster_name=cluster_name,
        addon_name=ADDON,
        addon_version=version,
        configuration_values=json.dumps(agent_values(), sort_keys=True),
        resolve_conflicts_on_create="OVERWRITE",
        resolve_conflicts_on_update="OVERWRITE",
        tags=tags,
        opts=opts,
    )


def node_repair(enabled: bool):
    """A transform that sets the EKS node group's nodeRepairConfig (EKS CreateNodegroup and
    UpdateNodegroupConfig, botocore eks 2017-11-01 NodeRepairConfig.enabled; pulumi-aws
    NodeGroup.node_repair_config), which pulumi-eks 4.4.0's ManagedNodeGroup does not expose.
    Transforms reach the children of packaged components, so it is set on the ManagedNodeGroup
    and rewrites the NodeGroup inside. `enabled` False is written too, so turning repair off is
    a change `pulumi up` sends rather than an input left out."""

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if args.type_ != NODE_GROUP:
            return None
        props = {**args.props, "nodeRepairConfig": {"enabled": enabled}}
        return pulumi.ResourceTransformResult(props=props, opts=args.opts)

    return transform
