"""RBAC the stack grants: Roles name the verbs and resources a workload's contract needs
(components/runtime_contract.py render_role) and nothing that leads further, and bindings hand
them to the one named ServiceAccount that runs the workload.

A rule grants `verbs` on `resources` of `apiGroups`, "*" matching everything (kubernetes/website
content/en/docs/reference/access-authn-authz/rbac.md); the paths to privilege below are the ones
the Kubernetes RBAC good-practices page names (escalate, bind, impersonate, creating pods or
PersistentVolumes, nodes/proxy, webhook configurations, token requests) and the CIS Amazon EKS
Benchmark's section 4.1 lists.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .base import MANDATORY, Rule, name_of
from .kube import (
    CLUSTER_ROLE,
    CLUSTER_ROLE_BINDING,
    DEFAULT_SERVICE_ACCOUNT,
    ROLE,
    ROLE_BINDING,
    kind_of,
    namespace_of,
)

ROLES = (ROLE, CLUSTER_ROLE)
BINDINGS = (ROLE_BINDING, CLUSTER_ROLE_BINDING)
READ = {"get", "list", "watch"}
# Writes a rule can confine to named objects (create and deletecollection it cannot).
NAMED_WRITES = ("update", "patch", "delete")
# ClusterRoles that grant (nearly) everything in their scope.
BROAD_CLUSTER_ROLES = ("cluster-admin", "admin", "edit")

# (what, apiGroup, resource, verbs (None: any), the CIS recommendation): grants that lead to
# more privilege than they name.
ESCALATION_PATHS: tuple[tuple[str, str, str, frozenset[str] | None, str], ...] = (
    ("create pods", "", "pods", frozenset({"create"}), "4.1.4"),
    ("exec or attach into pods", "", "pods/exec", frozenset({"create", "get"}), "4.1.4"),
    ("attach to pods", "", "pods/attach", frozenset({"create", "get"}), "4.1.4"),
    ("add containers to pods", "", "pods/ephemeralcontainers", None, "4.1.4"),
    ("create PersistentVolumes", "", "persistentvolumes", frozenset({"create"}), "4.1.9"),
    ("use the kubelet API (nodes/proxy)", "", "nodes/proxy", None, "4.1.10"),
    (
        "change admission webhooks",
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
        frozenset({"create", "update", "patch", "delete", "deletecollection"}),
        "4.1.11",
    ),
    (
        "change admission webhooks",
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        frozenset({"create", "update", "patch", "delete", "deletecollection"}),
        "4.1.11",
    ),
    ("mint ServiceAccount tokens", "", "serviceaccounts/token", frozenset({"create"}), "4.1.12"),
)
ESCALATING_VERBS = ("escalate", "bind", "impersonate")  # 4.1.8


def _rules(props: Mapping[str, Any]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    for i, rule in enumerate(props.get("rules") or []):
        if isinstance(rule, Mapping):
            yield i, rule


def _has(values: Any, wanted: str) -> bool:
    values = list(values or [])
    return wanted in values or "*" in values


def _label(type_: str, props: Mapping[str, Any], i: int) -> str:
    return f"{kind_of(type_)} {name_of(props)} rules[{i}]"


def _wildcards(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    out = []
    for i, rule in _rules(props):
        wild = [
            k
            for k in ("apiGroups", "resources", "verbs", "nonResourceURLs")
            if "*" in (rule.get(k) or [])
        ]
        if wild:
            out.append(
                f"{_label(type_, props, i)} uses * in {', '.join(wild)}: list the API groups, "
                "resources and verbs the workload's contract needs"
            )
    return out


def _secrets(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    return [
        f"{_label(type_, props, i)} grants {sorted(rule.get('verbs') or [])} on secrets: "
        "mount the Secret into the pod that needs it instead of reading it through the API"
        for i, rule in _rules(props)
        if _has(rule.get("apiGroups"), "") and _has(rule.get("resources"), "secrets")
    ]


def _escalation(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    out = []
    for i, rule in _rules(props):
        verbs = set(rule.get("verbs") or [])
        at = _label(type_, props, i)
        for verb in ESCALATING_VERBS:
            if verb in verbs or "*" in verbs:
                out.append(f"{at} grants {verb}, a path to any permission: remove it")
        for what, group, resource, risky, _cis in ESCALATION_PATHS:
            if not (_has(rule.get("apiGroups"), group) and _has(rule.get("resources"), resource)):
                continue
            if "*" in verbs or risky is None or verbs & risky:
                out.append(f"{at} lets it {what}: remove {resource} from the rule")
    return out


def _writes_by_name(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    return [
        f"{_label(type_, props, i)} may {', '.join(v for v in NAMED_WRITES if v in rule['verbs'])} "
        f"every {'/'.join(rule.get('resources') or ['?'])}: confine it with resourceNames to "
        "the objects the workload owns"
        for i, rule in _rules(props)
        if set(rule.get("verbs") or []) & set(NAMED_WRITES) and not rule.get("resourceNames")
    ]


def _binding(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    label = f"{kind_of(type_)} {name_of(props)}"
    out = []
    ref = props.get("roleRef") or {}
    if ref.get("kind") == "ClusterRole" and ref.get("name") in BROAD_CLUSTER_ROLES:
        out.append(
            f"{label} grants the ClusterRole {ref['name']}: bind a Role listing what the "
            "workload needs"
        )
    own = namespace_of(props) if type_ == ROLE_BINDING else None
    for j, s in enumerate(props.get("subjects") or []):
        who = f"{s.get('kind')} {s.get('name')}"
        if s.get("kind") != "ServiceAccount":
            out.append(
                f"{label} subjects[{j}] is {who}: bind only the workload's ServiceAccount "
                "(people get access through EKS access entries)"
            )
        elif s.get("name") in (None, "", DEFAULT_SERVICE_ACCOUNT):
            out.append(
                f"{label} subjects[{j}] is the namespace's default ServiceAccount, which every "
                "pod without its own runs as: bind the workload's own ServiceAccount"
            )
        elif not s.get("namespace") or (own is not None and s.get("namespace") != own):
            out.append(
                f"{label} subjects[{j}] is {who} of namespace {s.get('namespace')}: bind the "
                f"ServiceAccount of the workload in {own or 'its namespace'}"
            )
    return out


RULES = [
    Rule(
        "rbac-no-wildcards",
        "Roles name their API groups, resources and verbs (no *).",
        MANDATORY,
        ROLES,
        _wildcards,
        controls=("CIS EKS 4.1.3",),
    ),
    Rule(
        "rbac-no-secret-access",
        "No Role grants access to Secrets.",
        MANDATORY,
        ROLES,
        _secrets,
        controls=("CIS EKS 4.1.2",),
    ),
    Rule(
        "rbac-no-escalation-paths",
        "No Role grants escalate, bind or impersonate, or lets its holder create pods or "
        "PersistentVolumes, reach nodes/proxy, change admission webhooks or mint tokens.",
        MANDATORY,
        ROLES,
        _escalation,
        controls=(
            "CIS EKS 4.1.4",
            "CIS EKS 4.1.8",
            "CIS EKS 4.1.9",
            "CIS EKS 4.1.10",
            "CIS EKS 4.1.11",
            "CIS EKS 4.1.12",
        ),
    ),
    Rule(
        "rbac-writes-by-name",
        "Roles confine update, patch and delete to named objects (resourceNames).",
        MANDATORY,
        ROLES,
        _writes_by_name,
    ),
    Rule(
        "rbac-bindings-scoped",
        "Bindings grant no broad ClusterRole (cluster-admin, admin, edit) and bind only named, "
        "non-default ServiceAccounts of their own namespace.",
        MANDATORY,
        BINDINGS,
        _binding,
        controls=("CIS EKS 4.1.1", "CIS EKS 4.1.5"),
    ),
]
