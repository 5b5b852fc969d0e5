"""Worker nodes: launch templates, Karpenter EC2NodeClasses, node groups and NodePools."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..required import IMDS_HOP_LIMIT
from .base import GPU, MANDATORY, Rule, get, truthy

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
EKS_COMPONENT = "eks:index:Cluster"
NODE_GROUPS = ("eks:index:ManagedNodeGroup", "aws:eks/nodeGroup:NodeGroup")


def _metadata(type_: str, props: Mapping[str, Any]) -> Mapping[str, Any]:
    return (
        get(props, "spec.metadataOptions") if type_ == NODE_CLASS else props.get("metadataOptions")
    ) or {}


def _imdsv2(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    # Explicit even where a default would do: IMDSv1 lets any pod SSRF steal the node role.
    tokens = _metadata(type_, props).get("httpTokens")
    if tokens == "required":
        return []
    return [
        (
            f"instance metadata httpTokens is {tokens or 'unset'}: set "
            "metadataOptions.httpTokens: required (IMDSv2)"
        )
    ]


def _hop_limit(type_: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    # A hop limit above 1 lets a pod (one more network hop behind the node) reach IMDS and take
    # the node role's credentials. Same field name in pulumi-aws's LaunchTemplate/Instance
    # metadataOptions and Karpenter v1's EC2NodeClass spec.metadataOptions. Required explicitly:
    # left out, the AMI decides (EC2 defaults to 2 for AMIs registered with ImdsSupport v2.0).
    want = cfg["hopLimit"]
    found = _metadata(type_, props).get("httpPutResponseHopLimit")
    try:
        ok = found is not None and float(found) == float(want)
    except (TypeError, ValueError):
        ok = False
    if ok:
        return []
    return [
        (
            f"instance metadata httpPutResponseHopLimit is "
            f"{'unset' if found is None else found}: set metadataOptions.httpPutResponseHopLimit:"
            f" {want} so pods cannot reach IMDS; pods get AWS credentials from Pod Identity"
        )
    ]


def _volumes(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    if type_ == NODE_CLASS:
        mappings = get(props, "spec.blockDeviceMappings") or []
    else:
        mappings = props.get("blockDeviceMappings") or []
    out = []
    for m in mappings:
        ebs = m.get("ebs")
        if ebs is not None and not truthy(ebs.get("encrypted")):
            out.append(
                f"EBS volume {m.get('deviceName', '?')} is not encrypted: set "
                "ebs.encrypted: true (and a kmsKeyId if you need your own key)"
            )
    return out


def _public_ip(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    if type_ == EKS_COMPONENT:
        public = truthy(props.get("nodeAssociatePublicIpAddress"))
    elif type_ == NODE_CLASS:
        # Karpenter v1 EC2NodeClass spec.associatePublicIPAddress (karpenter-provider-aws
        # v1.14 CRD); unset, the subnet's mapPublicIpOnLaunch decides (subnet-no-public-ip).
        public = truthy(get(props, "spec.associatePublicIPAddress"))
    elif type_ == INSTANCE:
        public = truthy(props.get("associatePublicIpAddress"))
    else:
        public = any(
            truthy(n.get("associatePublicIpAddress")) for n in props.get("networkInterfaces") or []
        )
    if not public:
        return []
    return [
        (
            "nodes get public IP addresses: set associatePublicIpAddress / "
            "nodeAssociatePublicIpAddress: false and place nodes in private subnets behind NAT"
        )
    ]


def _is_gpu_pool(props: Mapping[str, Any]) -> bool:
    template = get(props, "spec.template") or {}
    labels = get(template, "metadata.labels") or {}
    taints = get(template, "spec.taints") or []
    return (
        str(labels.get("trainstack.io/gpu")).lower() == "true"
        or any(t.get("key") == GPU for t in taints)
        or GPU in (get(props, "spec.limits") or {})
    )


def _pool_gpu_limit(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    # Without a ceiling, a queue of pending GPU pods can buy GPUs without bound.
    if not _is_gpu_pool(props) or (get(props, "spec.limits") or {}).get(GPU) is not None:
        return []
    return [
        (
            f"GPU NodePool has no spec.limits['{GPU}']: set a GPU ceiling (and spec.limits.nodes) "
            "so Karpenter cannot scale GPU spend without bound"
        )
    ]


_DURATION = re.compile(r"(\d+)([smh])")


def _hours(duration: str) -> float | None:
    """Hours of a Karpenter duration (`720h`, `1h30m`; the CRD's pattern `([0-9]+(s|m|h))+`)."""
    parts = _DURATION.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        return None
    return sum(int(n) / {"s": 3600, "m": 60, "h": 1}[u] for n, u in parts)


def _expire_after(_t: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    # Nodes are replaced (with the node class's current AMI) when they expire: `Never` keeps a
    # node, and the kernel and kubelet it booted with, forever. Unset, Karpenter applies 720h.
    value = str(get(props, "spec.template.spec.expireAfter") or "720h")
    hours = _hours(value)
    if hours is not None and hours <= cfg["maxHours"]:
        return []
    return [
        (
            f"NodePool expireAfter is {value}: set spec.template.spec.expireAfter to at most "
            f"{cfg['maxHours']}h so nodes are replaced with patched AMIs"
        )
    ]


def _group_hardened(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    out = []
    lt = props.get("launchTemplate") or {}
    if not (lt.get("id") or lt.get("name")):
        out.append(
            "node group has no launch template: launch it from the stack's template (IMDSv2, "
            "hop limit 1, encrypted volumes) instead of EKS's default one"
        )
    if props.get("remoteAccess"):
        out.append("node group opens SSH (remoteAccess): remove it; reach nodes with SSM")
    return out


def _group_max(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    if get(props, "scalingConfig.maxSize") is not None:
        return []
    return ["node group has no scalingConfig.maxSize: set one so the group's cost is bounded"]


RULES = [
    Rule(
        "imdsv2-required",
        "Nodes require IMDSv2 (metadataOptions.httpTokens: required).",
        MANDATORY,
        (LAUNCH_TEMPLATE, INSTANCE, NODE_CLASS),
        _imdsv2,
        controls=("FSBP EC2.8", "FSBP EC2.170"),
    ),
    Rule(
        "imds-hop-limit",
        "Nodes answer IMDS only to themselves (metadataOptions.httpPutResponseHopLimit: 1).",
        MANDATORY,
        (LAUNCH_TEMPLATE, INSTANCE, NODE_CLASS),
        _hop_limit,
        {"hopLimit": {"type": "integer", "minimum": 1, "maximum": 64, "default": IMDS_HOP_LIMIT}},
    ),
    Rule(
        "node-volumes-encrypted",
        "Node EBS volumes are encrypted.",
        MANDATORY,
        (LAUNCH_TEMPLATE, INSTANCE, NODE_CLASS),
        _volumes,
        controls=("FSBP EC2.3", "FSBP EC2.181"),
    ),
    Rule(
        "no-public-node-ips",
        "Nodes get no public IP addresses.",
        MANDATORY,
        (EKS_COMPONENT, LAUNCH_TEMPLATE, INSTANCE, NODE_CLASS),
        _public_ip,
        controls=("FSBP EC2.9", "FSBP EC2.25"),
    ),
    Rule(
        "nodepool-expire-after",
        "NodePools replace their nodes at least every maxHours.",
        MANDATORY,
        (NODE_POOL,),
        _expire_after,
        {"maxHours": {"type": "integer", "minimum": 1, "default": 720}},
    ),
    Rule(
        "node-group-hardened",
        "Managed node groups launch from the stack's launch template and open no SSH.",
        MANDATORY,
        NODE_GROUPS,
        _group_hardened,
    ),
    Rule(
        "gpu-nodepool-limits",
        "GPU NodePools cap nvidia.com/gpu in spec.limits.",
        MANDATORY,
        (NODE_POOL,),
        _pool_gpu_limit,
    ),
    Rule(
        "node-group-max-size",
        "Node groups declare a maximum size.",
        MANDATORY,
        NODE_GROUPS,
        _group_max,
    ),
]
