"""`trainstack:cluster`: the EKS cluster's name, version, API endpoint, admins and control-plane
logs, and the AWS names made from the cluster name (which bound its length)."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from typing import Literal

from pydantic import Field

import aws_rules
from policies.required import REQUIRED_LOG_TYPES

from .. import aws_names, versions
from .base import _Model, key
from .checks import log_retention

LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
IAM_PRINCIPAL = r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$"
# An EKS add-on version: vMAJOR.MINOR.PATCH-eksbuild.N (EKS User Guide, add-on versions).
ADDON_VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)-eksbuild\.\d+$")


class EndpointConfig(_Model):
    """The API server endpoint: always private; public only for listed CIDRs."""

    public: bool = False
    public_access_cidrs: list[ipaddress.IPv4Network] = []
    # 0.0.0.0/0 needs this explicit opt-in: the API server would be reachable from anywhere.
    allow_public_from_anywhere: bool = False


class ClusterConfig(_Model):
    # Checked in check_cluster against AWS's rules for every name derived from it.
    name: str = Field(min_length=1)
    # A float here is YAML reading 1.30 as 1.3: reported with a hint to quote it.
    kubernetes_version: str | float = versions.KUBERNETES_DEFAULT
    endpoint: EndpointConfig = EndpointConfig()
    admin_principals: list[str] = []
    log_types: list[Literal[LOG_TYPES]] = list(REQUIRED_LOG_TYPES)  # type: ignore[valid-type]
    log_retention_days: int = 30
    tags: dict[str, str] = {}
    # The vpc-cni add-on build; default: the pin for the Kubernetes version (versions.py).
    vpc_cni_version: str | None = None

    @property
    def vpc_cni_addon_version(self) -> str | None:
        """The vpc-cni add-on version the cluster gets: the configured one, else the pin when
        it is documented for this Kubernetes version (check_vpc_cni reports the rest)."""
        if self.vpc_cni_version is not None:
            return self.vpc_cni_version
        if self.kubernetes_version in versions.VPC_CNI_KUBERNETES_VERSIONS:
            return versions.VPC_CNI_ADDON_VERSION
        return None


CLUSTER_NAME_CHARS = (
    "lowercase letters, digits and '-', beginning and ending with a letter or digit"
)


def _derived_name_problems(cluster: str) -> list[str]:
    return [
        f"{value!r} ({rtype.split(':')[-1]} {field}) breaks {rule}: {problem}"
        for rtype, field, value in aws_names.derived(cluster)
        for rule, problem in aws_rules.problems(rtype, field, value)
    ]


def _longest(problems_at: Callable[[str], list[str]]) -> int:
    """The most characters a name may have before `problems_at(name)` finds something (0 if even
    one character is too many): the limit follows from AWS's rules, not from a number here."""
    n = 0
    while n < 256 and not problems_at("a" * (n + 1)):
        n += 1
    return n


@functools.lru_cache(maxsize=1)
def max_cluster_name_length() -> int:
    """The longest cluster name whose derived names all pass AWS's rules (aws_rules)."""
    return _longest(_derived_name_problems)


def _node_group_name_problems(cluster: str, group: str) -> list[str]:
    value = aws_names.node_group_prefix(cluster, group) + aws_rules.names.PREFIX_SUFFIX
    return [
        f"breaks {rule}: {problem}"
        for rule, problem in aws_rules.problems(
            "eks:index:ManagedNodeGroup", "nodeGroupName", value
        )
    ]


def check_node_group_name(cluster: str, group: str) -> list[str]:
    """The EKS node group name made from the cluster and group names (plus the provider's
    26-character suffix) must stay valid; a bad cluster name is reported under its own key."""
    if _derived_name_problems(cluster):
        return []
    found = _node_group_name_problems(cluster, group)
    if not found:
        return []
    longest = _longest(lambda g: _node_group_name_problems(cluster, g))
    return [
        f"{key('nodeGroups', group)}: the EKS node group name "
        f"{aws_names.node_group_prefix(cluster, group)!r} + 26 characters {found[0]}; with "
        f"cluster name {cluster!r} a node group name may have at most {longest} characters"
    ]


def _check_cluster_name(name: str) -> list[str]:
    found = _derived_name_problems(name)
    if not found:
        return []
    return [
        f"{key('cluster', 'name')} = {name!r}: allowed {CLUSTER_NAME_CHARS}, at most "
        f"{max_cluster_name_length()} characters, so that every AWS name made from it stays "
        f"valid; here {found[0]}"
    ]


def check_cluster(c: ClusterConfig) -> list[str]:
    issues = _check_cluster_name(c.name)
    if not isinstance(c.kubernetes_version, str):
        issues.append(
            f"{key('cluster', 'kubernetesVersion')} = {c.kubernetes_version!r}: write "
            f'it as a quoted string such as "{versions.KUBERNETES_DEFAULT}" (YAML reads '
            "1.30 as the number 1.3)"
        )
    elif c.kubernetes_version not in versions.KUBERNETES_VERSIONS:
        issues.append(
            f"{key('cluster', 'kubernetesVersion')} = {c.kubernetes_version!r}: "
            f"EKS supports {', '.join(versions.KUBERNETES_VERSIONS)} (quote it in YAML)"
        )
    ep = c.endpoint
    if ep.public and not ep.public_access_cidrs:
        issues.append(
            f"{key('cluster', 'endpoint', 'publicAccessCidrs')} = []: a public endpoint "
            "needs the CIDRs allowed to reach it, e.g. your office or VPN range"
        )
    if not ep.public and ep.public_access_cidrs:
        issues.append(
            f"{key('cluster', 'endpoint', 'publicAccessCidrs')} = "
            f"{[str(n) for n in ep.public_access_cidrs]}: only allowed with "
            "endpoint.public: true"
        )
    for i, net in enumerate(ep.public_access_cidrs):
        if net.prefixlen == 0 and not ep.allow_public_from_anywhere:
            issues.append(
                f"{key('cluster', 'endpoint', 'publicAccessCidrs')}[{i}] = '{net}': "
                "opens the API server to the whole internet; list narrower CIDRs, or "
                "set endpoint.allowPublicFromAnywhere: true to accept that"
            )
    for i, arn in enumerate(c.admin_principals):
        if not re.match(IAM_PRINCIPAL, arn):
            issues.append(
                f"{key('cluster', 'adminPrincipals')}[{i}] = {arn!r}: expected an IAM "
                "role or user ARN, arn:aws:iam::<12-digit account>:role/<name>"
            )
    issues += check_vpc_cni(c)
    missing = [t for t in REQUIRED_LOG_TYPES if t not in c.log_types]
    if missing:
        # The pack's eks-control-plane-logging rule demands these: refuse here, under the key.
        issues.append(
            f"{key('cluster', 'logTypes')} = {c.log_types}: must include "
            f"{', '.join(REQUIRED_LOG_TYPES)} (the policy pack requires them for "
            f"auditing); missing {', '.join(missing)}"
        )
    return issues + log_retention(("cluster", "logRetentionDays"), c.log_retention_days)


def check_vpc_cni(c: ClusterConfig) -> list[str]:
    """A pinned vpc-cni build with the network policy agent, for every Kubernetes version."""
    where = key("cluster", "vpcCniVersion")
    if c.vpc_cni_version is None:
        if c.kubernetes_version in versions.KUBERNETES_VERSIONS and not c.vpc_cni_addon_version:
            return [
                f"{where}: missing; the pinned vpc-cni add-on {versions.VPC_CNI_ADDON_VERSION} "
                f"is documented for Kubernetes {', '.join(versions.VPC_CNI_KUBERNETES_VERSIONS)}"
                f", not {c.kubernetes_version}; name a build `aws eks describe-addon-versions "
                f"--addon-name vpc-cni --kubernetes-version {c.kubernetes_version}` lists"
            ]
        return []
    found = ADDON_VERSION.match(c.vpc_cni_version)
    if not found:
        return [
            f"{where} = {c.vpc_cni_version!r}: expected an EKS add-on version such as "
            f"{versions.VPC_CNI_ADDON_VERSION!r}"
        ]
    if tuple(map(int, found.groups()[:2])) < versions.VPC_CNI_NETWORK_POLICY_SINCE:
        since = ".".join(map(str, versions.VPC_CNI_NETWORK_POLICY_SINCE))
        return [
            f"{where} = {c.vpc_cni_version!r}: the network policy agent the jobs namespace's "
            f"NetworkPolicies need came with v{since}.0; use a later build"
        ]
    return []
