"""Who may assume the stack's roles: the trust policy (assumeRolePolicy) of every IAM role.

The stack's roles are assumed by AWS services only: EKS Pod Identity (pods.eks.amazonaws.com,
the principal the EKS User Guide's Pod Identity trust policy names), EC2 for the node roles,
CodeBuild for the image build, EventBridge for the nightly build's schedule, VPC Flow Logs for
flow-log delivery. A trust that names everyone,
another account or a federated identity without the audience and subject conditions would hand
the role's permissions to principals the stack does not control. Where the stack pins a
service's trust to its own account and resources (VPC Flow Logs), the pins must stay.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import policy_docs as pd
from .base import MANDATORY, Rule

ROLE = "aws:iam/role:Role"
# The services the stack's roles trust (components/iam.py, karpenter.py, image_build.py,
# image.py's nightly schedule, network.py) and the EKS cluster role pulumi-eks creates.
TRUSTED_SERVICES = [
    "pods.eks.amazonaws.com",
    "ec2.amazonaws.com",
    "codebuild.amazonaws.com",
    "vpc-flow-logs.amazonaws.com",
    "eks.amazonaws.com",
    "events.amazonaws.com",
]


def _federated_pinned(st: Mapping[str, Any]) -> bool:
    # An OIDC trust (IRSA) is only as narrow as its `<provider>:sub` and `:aud` conditions.
    keys = {key for op, key, values in pd.conditions(st) if "Not" not in op and pd.fixed(values)}
    return any(k.endswith(":sub") for k in keys) and any(k.endswith(":aud") for k in keys)


def _trust(_t: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    services = set(cfg["trustedServices"])
    scoped = set(cfg["sourceScopedServices"])
    accounts = {str(a) for a in cfg["trustedAccounts"]}
    name = props.get("name") or "role"
    out = []
    for label, st in pd.statements(props.get("assumeRolePolicy")):
        if not pd.allows(st):
            continue
        if pd.names_everyone(st):
            out.append(f"{name}: {label} lets anyone assume the role: name its service principal")
            continue
        ps = pd.principals(st)
        for svc in ps.get("Service", []):
            if svc in scoped and not pd.restricts_by(st, {"aws:sourceaccount", "aws:sourcearn"}):
                out.append(
                    f"{name}: {label} lets {svc} assume the role for any account: add fixed "
                    "aws:SourceAccount and aws:SourceArn conditions"
                )
            if svc not in services:
                out.append(
                    f"{name}: {label} trusts service {svc}: trust only the services the "
                    f"stack's roles need ({sorted(services)}), or add it to trustedServices"
                )
        for arn in ps.get("AWS", []):
            account = arn if arn.isdigit() else (arn.split(":") + [""] * 5)[4]
            if account not in accounts:
                out.append(
                    f"{name}: {label} trusts AWS principal {arn}: roles are assumed by services "
                    "here; add the account to trustedAccounts only if it must assume the role"
                )
        if ps.get("Federated") and not _federated_pinned(st):
            out.append(
                f"{name}: {label} trusts {ps['Federated']} without fixed :sub and :aud "
                "conditions: pin the ServiceAccount (sub) and audience (sts.amazonaws.com)"
            )
    return out


RULES = [
    Rule(
        "iam-trust-principals",
        "Roles trust only the AWS services the stack uses: no `*`, no other account, no "
        "federated identity without subject and audience conditions.",
        MANDATORY,
        (ROLE,),
        _trust,
        {
            "trustedServices": {
                "type": "array",
                "items": {"type": "string"},
                "default": TRUSTED_SERVICES,
            },
            "trustedAccounts": {"type": "array", "items": {"type": "string"}, "default": []},
            # Services whose trust the stack pins to its own account and resources (the VPC
            # user guide's flow-log role, with its confused-deputy conditions).
            "sourceScopedServices": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["vpc-flow-logs.amazonaws.com"],
            },
        },
    ),
]
