"""EKS control plane: who can reach it, how secrets are stored, what is logged, who is let in.

Each rule matches the pulumi_eks component (what the offline plan sees) and the aws.eks.Cluster
it wraps (what `pulumi preview` shows), whose inputs are shaped differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..required import REQUIRED_LOG_TYPES
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


RULES = [
    Rule(
        "eks-endpoint-not-public",
        "The EKS API endpoint is private or limited to known CIDRs.",
        MANDATORY,
        TYPES,
        _public_endpoint,
    ),
    Rule(
        "eks-secrets-encrypted",
        "Kubernetes secrets are envelope-encrypted with a KMS key.",
        MANDATORY,
        TYPES,
        _secrets_encryption,
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
