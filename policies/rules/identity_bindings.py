"""Which Kubernetes identities get AWS roles, and which AWS principals get into the cluster.

EKS Pod Identity hands a role's credentials to every pod that runs as the association's
ServiceAccount in its namespace (EKS User Guide, "Pod Identity"). Bound to a namespace's
`default` ServiceAccount, the role goes to every pod there that names no account; bound in
`default`, `kube-public` or `kube-node-lease`, to namespaces that hold no workload of the stack
and where anyone allowed to create pods would get it. Add-on associations (aws:eks/addon
podIdentityAssociations) run in the add-on's namespace and are checked for the account only.

An EC2_LINUX access entry puts its principal in the cluster's node group (EKS User Guide,
"Access entries"): it must be a node role the stack itself creates, assumable by EC2 only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import policy_docs as pd
from .base import MANDATORY, Planned, Rule, StackRule

ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
ADDON = "aws:eks/addon:Addon"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
ROLE = "aws:iam/role:Role"
SHARED_NAMESPACES = ("default", "kube-public", "kube-node-lease")
NODE_ENTRY_TYPES = ("EC2_LINUX", "EC2_WINDOWS", "HYBRID_LINUX")


def _bindings(type_: str, props: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    if type_ == ASSOCIATION:
        return [(str(props.get("namespace") or ""), str(props.get("serviceAccount") or ""))]
    return [
        (None, str(a.get("serviceAccount") or ""))
        for a in props.get("podIdentityAssociations") or []
        if isinstance(a, Mapping)
    ]


def _binding(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    out = []
    for namespace, account in _bindings(type_, props):
        if account == "default":
            out.append(
                "the role is bound to the `default` ServiceAccount, which every pod without "
                "serviceAccountName runs as: bind it to the workload's own ServiceAccount"
            )
        if namespace in SHARED_NAMESPACES:
            out.append(
                f"the role is bound in namespace {namespace}, where no stack workload runs: "
                "bind it in the workload's namespace"
            )
    return out


def _ec2_only(props: Mapping[str, Any]) -> bool:
    trusts = [st for _l, st in pd.statements(props.get("assumeRolePolicy")) if pd.allows(st)]
    return bool(trusts) and all(
        pd.principals(st) == {"Service": ["ec2.amazonaws.com"]} for st in trusts
    )


def foreign_node_entries(
    resources: Sequence[Planned], _cfg: Mapping[str, Any]
) -> list[tuple[Any, str]]:
    """Node access entries whose principal is not one of the stack's EC2-only roles."""
    node_roles = {
        n
        for _h, t, p, names in resources
        if t == ROLE and _ec2_only(p)
        for n in (*names, p.get("name"))
        if n
    }
    out = []
    for handle, type_, props, _names in resources:
        arn = str(props.get("principalArn") or "")
        if type_ != ACCESS_ENTRY or props.get("type") not in NODE_ENTRY_TYPES or not arn:
            continue  # no principal known yet (a preview of a new stack): nothing to judge
        if arn.rsplit("/", 1)[-1] not in node_roles or ":role/" not in arn:
            out.append(
                (
                    handle,
                    f"access entry of type {props.get('type')} admits {arn} as a node: node "
                    "entries name a node role the stack creates, assumable by ec2.amazonaws.com "
                    "only",
                )
            )
    return out


RULES = [
    Rule(
        "pod-identity-binding",
        "Pod Identity binds roles to a workload's own ServiceAccount in its own namespace, never "
        "to `default` or a shared namespace.",
        MANDATORY,
        (ASSOCIATION, ADDON),
        _binding,
    ),
]
STACK_RULES = [
    StackRule(
        "eks-node-access-entries",
        "Node access entries (EC2_LINUX) admit only the stack's own EC2-trusted node roles.",
        MANDATORY,
        foreign_node_entries,
    ),
]
