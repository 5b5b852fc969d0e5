"""EKS control plane: who can reach it, how secrets are stored, what is logged, who is let in.

Each rule matches the pulumi_eks component (what the offline plan sees) and the aws.eks.Cluster
it wraps (what `pulumi preview` shows), whose inputs are shaped differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..required import OLDEST_EKS_KUBERNETES, REQUIRED_LOG_TYPES
from .base import MANDATORY, Rule, get, has_world, truthy

COMPONENT = "eks:index:Cluster"
PRIMITIVE = "aws:eks/cluster:Cluster"
TYPES = (COMPONENT, PRIMITIVE)


def _endpoint(type_: str, props: Mapping[str, Any]) -> tuple[bool, list[str]]:
    vpc = (props.get("vpcConfig") or {}) if type_ == PRIMITIVE else props
    # Both default to a public endpoint open to 0.0.0.0/0 when the inputs are left out.
    public = vpc.get("endpointPublicAccess")
    return (True if public is None else truthy(public)), list(vpc.get("publicAccessCidrs") or [])


def _public_endpoint(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    public, cidrs = _endpoint(type_, props)
    if not public:
        return []
    if not cidrs or has_world(cidrs):
        return [
            (
                "the EKS API endpoint is public to 0.0.0.0/0: set publicAccessCidrs to your "
                "office/VPN ranges, or make the endpoint private (endpointPublicAccess: false)"
            )
        ]
    return []


def _secrets_encryption(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    if type_ == COMPONENT:
        ok = bool(props.get("encryptionConfigKeyArn"))
    else:
        enc = props.get("encryptionConfig") or {}
        ok = bool(get(enc, "provider.keyArn")) and "secrets" in (enc.get("resources") or [])
    if ok:
        return []
    return [
        (
            "Kubernetes secrets are not envelope-encrypted: set a KMS key "
            "(encryptionConfigKeyArn / encryptionConfig.provider.keyArn with resources=[secrets])"
        )
    ]


def _logging(type_: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    enabled = set(props.get("enabledClusterLogTypes") or [])
    missing = [t for t in cfg["requiredLogTypes"] if t not in enabled]
    if not missing:
        return []
    return [
        (
            f"control-plane log types {missing} are not enabled: add them to "
            "enabledClusterLogTypes so API calls and authentication are audited"
        )
    ]


def _auth_mode(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    mode = (
        props.get("authenticationMode")
        if type_ == COMPONENT
        else get(props, "accessConfig.authenticationMode")
    )
    # Unset means CONFIG_MAP: the aws-auth ConfigMap, editable by anyone with cluster admin.
    if mode in ("API", "API_AND_CONFIG_MAP"):
        return []
    return [
        (
            f"authentication mode is {mode or 'CONFIG_MAP (default)'}: set authenticationMode "
            "to API (or API_AND_CONFIG_MAP while migrating) and grant access with access entries"
        )
    ]


def _private_endpoint(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    vpc = (props.get("vpcConfig") or {}) if type_ == PRIMITIVE else props
    # Off (EKS's default), nodes and pods reach the API server over its public endpoint, from
    # the NAT's address, outside the VPC.
    if truthy(vpc.get("endpointPrivateAccess")):
        return []
    return [
        "the API endpoint has no private access: set endpointPrivateAccess: true so nodes and "
        "pods reach the API server inside the VPC"
    ]


def _no_default_group(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    # pulumi-eks's default node group is its own launch configuration, outside the stack's
    # hardened launch templates (IMDSv2, hop limit 1, encrypted volumes).
    if truthy(props.get("skipDefaultNodeGroup")):
        return []
    return [
        "the cluster gets pulumi-eks's default node group: set skipDefaultNodeGroup: true; nodes "
        "come from the stack's managed node groups and Karpenter, with hardened templates"
    ]


def _version_key(version: Any) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in str(version).split(".")[:2])
    except ValueError:
        return ()


def _supported_version(_t: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    version = props.get("version")
    if version is None or _version_key(version) >= _version_key(cfg["oldestSupported"]):
        return []
    return [
        f"Kubernetes {version} is out of EKS support: set version to {cfg['oldestSupported']} "
        "or newer (unsupported versions get no security patches)"
    ]


RULES = [
    Rule(
        "eks-endpoint-not-public",
        "The EKS API endpoint is private or limited to known CIDRs.",
        MANDATORY,
        TYPES,
        _public_endpoint,
        # Not FSBP EKS.1: that control fails any public endpoint, CIDRs or not (baselines/fsbp.py).
    ),
    Rule(
        "eks-endpoint-private-access",
        "The EKS API endpoint is reachable from inside the VPC.",
        MANDATORY,
        TYPES,
        _private_endpoint,
    ),
    Rule(
        "eks-secrets-encrypted",
        "Kubernetes secrets are envelope-encrypted with a KMS key.",
        MANDATORY,
        TYPES,
        _secrets_encryption,
        controls=("FSBP EKS.3",),
    ),
    Rule(
        "eks-no-default-node-group",
        "The cluster has no pulumi-eks default node group.",
        MANDATORY,
        (COMPONENT,),
        _no_default_group,
    ),
    Rule(
        "eks-supported-version",
        "The cluster runs a Kubernetes version EKS supports.",
        MANDATORY,
        TYPES,
        _supported_version,
        {"oldestSupported": {"type": "string", "default": OLDEST_EKS_KUBERNETES}},
        controls=("FSBP EKS.2",),
    ),
    Rule(
        "eks-control-plane-logging",
        "The EKS control plane logs api, audit and authenticator.",
        MANDATORY,
        TYPES,
        _logging,
        {
            "requiredLogTypes": {
                "type": "array",
                "items": {"type": "string"},
                "default": list(REQUIRED_LOG_TYPES),
            }
        },
        controls=("FSBP EKS.8",),
    ),
    Rule(
        "eks-api-authentication",
        "Cluster access uses EKS access entries, not aws-auth only.",
        MANDATORY,
        TYPES,
        _auth_mode,
        controls=("CIS EKS 4.1.7",),
    ),
]
