"""Karpenter's node objects, rendered by pure functions: one EC2NodeClass (AMI, role, subnets and
security groups by discovery tag, IMDS, disks) and one NodePool (instances, capacity types, GPU
taint, limits, disruption) per configured pool. Pure so they can be validated against the upstream
CRDs without a cluster (components/karpenter.py creates them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policies.required import IMDS_HOP_LIMIT  # the pack's value: one source of truth

from .config import NodePoolConfig
from .scheduling import GPU_TAINT, node_labels

DISCOVERY_TAG = "karpenter.sh/discovery"

ZONE_LABEL = "topology.kubernetes.io/zone"


@dataclass(frozen=True)
class EfaPlacement:
    """Where an EFA pool's nodes go: the EFA zone's private subnet and one cluster placement group.

    EFA traffic does not cross zones, and a cluster placement group cannot span them; Karpenter
    (designs/placement-groups-support.md, in the repository since v1.11 like the CRD's
    placementGroupSelector) leaves an empty cluster group's zone to EC2 unless the NodePool pins
    it, so the NodePool requires the zone and the node class selects only that zone's subnet.
    """

    subnet_id: str
    placement_group: str


def render_ec2_node_class(
    pool: str,
    pool_cfg: NodePoolConfig,
    *,
    cluster_name: str,
    node_role_name: str,
    ami_alias: str,
    tags: dict[str, str],
    placement: EfaPlacement | None = None,
) -> dict[str, Any]:
    if pool_cfg.efa and placement is None:
        raise ValueError(f"EFA pool {pool!r} needs an EfaPlacement (zone, subnet, placement group)")
    nc = {
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": pool},
        "spec": {
            "amiSelectorTerms": [{"alias": ami_alias}],
            "role": node_role_name,
            "subnetSelectorTerms": [{"tags": {DISCOVERY_TAG: cluster_name}}],
            "securityGroupSelectorTerms": [{"tags": {DISCOVERY_TAG: cluster_name}}],
            "metadataOptions": {
                "httpEndpoint": "enabled",
                "httpProtocolIPv6": "disabled",
                "httpPutResponseHopLimit": IMDS_HOP_LIMIT,
                "httpTokens": "required",
            },
            "blockDeviceMappings": [
                {
                    "deviceName": "/dev/xvda",
                    "ebs": {
                        "volumeSize": f"{pool_cfg.disk_size_gib}Gi",
                        "volumeType": "gp3",
                        "encrypted": True,
                        "deleteOnTermination": True,
                    },
                }
            ],
            # g5/g4dn local NVMe becomes the node's ephemeral storage (image layers, /tmp).
            "instanceStorePolicy": "RAID0",
            "tags": {**tags, "trainstack.io/pool": pool},
        },
    }
    if pool_cfg.efa:
        # EC2NodeClass v1 (karpenter-provider-aws v1.14.1 CRD): a subnet term is an id or tags,
        # and placementGroupSelector names one group by name xor id.
        nc["spec"]["subnetSelectorTerms"] = [{"id": placement.subnet_id}]
        nc["spec"]["placementGroupSelector"] = {"name": placement.placement_group}
    return nc


def render_node_pool(
    pool: str, pool_cfg: NodePoolConfig, efa_zone: str | None = None
) -> dict[str, Any]:
    if pool_cfg.efa or pool_cfg.instance_types:
        # EFA pools list the EFA-capable sizes explicitly: a family alone would admit xlarge.
        selector = {
            "key": "node.kubernetes.io/instance-type",
            "operator": "In",
            "values": [i.name for i in pool_cfg.facts(pool).instances],
        }
    else:
        selector = {
            "key": "karpenter.k8s.aws/instance-family",
            "operator": "In",
            "values": list(pool_cfg.instance_families),
        }
    requirements = [
        selector,
        {
            "key": "karpenter.sh/capacity-type",
            "operator": "In",
            "values": list(pool_cfg.capacity_types),
        },
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
    ]
    if pool_cfg.efa:
        if not efa_zone:
            raise ValueError(f"EFA pool {pool!r} needs the zone its placement group is in")
        # One zone for every node of the pool: a job's ranks must share the EFA fabric.
        requirements.append({"key": ZONE_LABEL, "operator": "In", "values": [efa_zone]})
    limits: dict[str, Any] = {"nvidia.com/gpu": pool_cfg.max_gpus}
    if pool_cfg.max_nodes is not None:
        limits["nodes"] = pool_cfg.max_nodes
    spec: dict[str, Any] = {
        "template": {
            "metadata": {"labels": node_labels(pool, pool_cfg, efa=pool_cfg.efa)},
            "spec": {
                "nodeClassRef": {
                    "group": "karpenter.k8s.aws",
                    "kind": "EC2NodeClass",
                    "name": pool,
                },
                "requirements": requirements,
                "taints": [dict(GPU_TAINT)],
                "expireAfter": "720h",
            },
        },
        "limits": limits,
        # Only empty nodes are reclaimed, and only after a delay longer than an image pull, so
        # a running job is never consolidated away.
        "disruption": {
            "consolidationPolicy": "WhenEmpty",
            "consolidateAfter": pool_cfg.consolidate_after,
            "budgets": [{"nodes": "10%"}],
        },
    }
    if pool_cfg.weight is not None:
        spec["weight"] = pool_cfg.weight
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": pool},
        "spec": spec,
    }
