"""Namespaces as administrative boundaries: every namespace the stack creates has Pod Security
Admission enforcing a level (restricted wherever the stack's workloads run), and nothing the
stack creates lands in the `default` namespace.

Pod Security Admission reads the labels `pod-security.kubernetes.io/<mode>` (enforce, audit,
warn) and `<mode>-version` (kubernetes/website content/en/docs/concepts/security/
pod-security-admission.md): `enforce` refuses a pod, `audit` and `warn` only report it, and a
version pins the standard's definition of that Kubernetes minor ("latest" when unset).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .base import MANDATORY, WORKLOADS, Planned, Rule, StackRule, get, name_of
from .kube import HELM_RELEASE, NAMESPACE, NAMESPACED, kind_of, namespace_of
from .root_step import is_root_step

PSA = "pod-security.kubernetes.io"
LEVELS = ("privileged", "baseline", "restricted")
# Audit and warn refuse nothing, so they report against the strictest level everywhere: a
# namespace enforcing baseline for its one root step still surfaces whatever else is not
# restricted.
REPORTING_MODES = ("audit", "warn")
EKS_CLUSTERS = ("eks:index:Cluster", "aws:eks/cluster:Cluster")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)$")


def _minor(version: Any) -> tuple[int, int] | None:
    m = _VERSION.match(str(version or "").strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def _cluster_minor(resources: Sequence[Planned]) -> tuple[int, int] | None:
    """The EKS cluster's Kubernetes minor: the component's input offline, the cluster's output
    in CrossGuard's stack validation."""
    found = [_minor(p.get("version")) for _h, t, p, _n in resources if t in EKS_CLUSTERS]
    known = [v for v in found if v is not None]
    return min(known) if known else None


def _workload_namespaces(resources: Sequence[Planned]) -> set[str]:
    """Namespaces holding a workload other than the FSx root step (which alone may run under
    baseline, policies/rules/root_step.py)."""
    return {
        namespace_of(props)
        for _h, type_, props, _n in resources
        if type_ in WORKLOADS and not is_root_step(type_, props)
    }


def _namespace_problems(
    name: str, labels: Mapping[str, Any], runs_workloads: bool, cluster: tuple[int, int] | None
) -> list[str]:
    out = []
    enforce = labels.get(f"{PSA}/enforce")
    if enforce not in ("baseline", "restricted"):
        out.append(
            f"namespace {name} enforces no Pod Security level (enforce: {enforce}): label it "
            f"{PSA}/enforce: restricted (baseline only for a namespace of root steps)"
        )
    elif runs_workloads and enforce != "restricted":
        out.append(
            f"namespace {name} runs the stack's workloads under enforce: {enforce}: label it "
            f"{PSA}/enforce: restricted"
        )
    for mode in REPORTING_MODES:
        level = labels.get(f"{PSA}/{mode}")
        if level != "restricted":
            out.append(
                f"namespace {name} {mode}s against {level or 'no level'}: label it "
                f"{PSA}/{mode}: restricted so whatever is not restricted is reported"
            )
    for mode in ("enforce", *REPORTING_MODES):
        pinned = labels.get(f"{PSA}/{mode}-version")
        if pinned in (None, "latest") or cluster is None:
            continue
        minor = _minor(pinned)
        if minor is None or minor < cluster:
            out.append(
                f"namespace {name} pins {mode}-version {pinned}, older than the cluster's "
                f"v{cluster[0]}.{cluster[1]}: pin the cluster's minor version (or latest) so "
                "the standard's current checks apply"
            )
    return out


def namespace_pod_security(
    resources: Sequence[Planned], _cfg: Mapping[str, Any]
) -> list[tuple[Any, str]]:
    busy = _workload_namespaces(resources)
    cluster = _cluster_minor(resources)
    out = []
    created = set()
    for handle, type_, props, _names in resources:
        if type_ != NAMESPACE:
            continue
        name = name_of(props)
        created.add(name)
        labels = get(props, "metadata.labels") or {}
        out += [(handle, m) for m in _namespace_problems(name, labels, name in busy, cluster)]
    # A workload in a namespace the stack does not create runs under whatever labels that
    # namespace has (none, on a namespace made by hand).
    for handle, type_, props, _names in resources:
        ns = namespace_of(props)
        if type_ in WORKLOADS and ns not in created:
            out.append(
                (
                    handle,
                    f"{kind_of(type_)} {name_of(props)} runs in namespace {ns}, which the stack "
                    "does not create, so no Pod Security level of the stack applies: create the "
                    "namespace with the stack (components/workloads.py) or move the workload",
                )
            )
    return out


def _not_default(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    # A Helm release names its namespace at the top level; other objects in their metadata.
    namespace = (
        props.get("namespace") if type_ == HELM_RELEASE else get(props, "metadata.namespace")
    )
    if namespace and namespace != "default":
        return []
    where = "in no namespace (the provider's default)" if not namespace else "in namespace default"
    return [
        f"{kind_of(type_)} {name_of(props) or '?'} is {where}: put it in the namespace of its "
        "component, where its Pod Security level, NetworkPolicies and RBAC apply"
    ]


RULES = [
    Rule(
        "no-default-namespace",
        "Nothing the stack creates lives in the default namespace.",
        MANDATORY,
        (*NAMESPACED, HELM_RELEASE),
        _not_default,
        controls=("CIS EKS 4.5.1", "CIS EKS 4.5.2"),
    ),
]

STACK_RULES = [
    StackRule(
        "namespace-pod-security",
        "Every namespace the stack creates enforces a Pod Security level (restricted where its "
        "workloads run), audits and warns against restricted, and pins no version older than "
        "the cluster's.",
        MANDATORY,
        namespace_pod_security,
        controls=(
            "CIS EKS 4.2.1",
            "CIS EKS 4.2.2",
            "CIS EKS 4.2.3",
            "CIS EKS 4.2.4",
            "CIS EKS 4.2.5",
            "CIS EKS 4.5.1",
        ),
    ),
]
