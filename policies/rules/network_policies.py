"""NetworkPolicies as the stack renders them (components/network_policy.py from each workload's
runtime contract): every namespace the stack creates denies all traffic by default, every
workload pod is selected by a policy of its own for both directions, and no rule reaches
further than its contract: peers are named pods or address blocks, egress to addresses names
its ports, the instance metadata service stays excepted from every block that contains it, and
the VPC from the HTTPS-to-anywhere block unless interface endpoints put AWS's APIs in it.

Semantics (kubernetes/website content/en/docs/concepts/services-networking/network-policies.md,
and the VPC CNI's agent, tests/netpol_eval.py): a rule without `from`/`to` (or with an empty
list) admits every peer; an empty podSelector selects every pod of the namespace(s); a policy
without policyTypes governs Ingress, and Egress only if it has egress rules.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .base import MANDATORY, Planned, Rule, StackRule, get, has_world, name_of, truthy
from .kube import NAMESPACE, NETWORK_POLICY, SERVICE, empty_selector, pod_templates_of, selects

BOTH = ("Ingress", "Egress")
# IMDS (IPv4 and the Nitro IPv6 address): pods get AWS credentials from Pod Identity only.
IMDS = ("169.254.169.254", "fd00:ec2::254")
VPC = "aws:ec2/vpc:Vpc"
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"

Policy = tuple[Any, str, str, Mapping[str, Any]]  # handle, namespace, name, spec


def _policies(resources: Sequence[Planned]) -> list[Policy]:
    return [
        (h, str(get(p, "metadata.namespace") or "default"), name_of(p), p.get("spec") or {})
        for h, t, p, _n in resources
        if t == NETWORK_POLICY
    ]


def policy_types(spec: Mapping[str, Any]) -> set[str]:
    explicit = spec.get("policyTypes")
    if explicit:
        return set(explicit)
    return {"Ingress", "Egress"} if spec.get("egress") else {"Ingress"}


def _is_default_deny(spec: Mapping[str, Any]) -> bool:
    return (
        empty_selector(spec.get("podSelector", {}))
        and set(BOTH) <= policy_types(spec)
        and not spec.get("ingress")
        and not spec.get("egress")
    )


# ---------------------------------------------------------------------------- coverage


def network_policy_coverage(
    resources: Sequence[Planned], _cfg: Mapping[str, Any]
) -> list[tuple[Any, str]]:
    policies = _policies(resources)
    namespaces = {name_of(p): h for h, t, p, _n in resources if t == NAMESPACE}
    out = []
    for ns, handle in namespaces.items():
        if not any(pns == ns and _is_default_deny(spec) for _h, pns, _name, spec in policies):
            out.append(
                (
                    handle,
                    f"namespace {ns} has no default-deny NetworkPolicy: add one selecting every "
                    "pod (podSelector: {}) with policyTypes [Ingress, Egress] and no rules",
                )
            )
    for h, ns, name, spec in policies:
        if empty_selector(spec.get("podSelector", {})) and (
            spec.get("ingress") or spec.get("egress")
        ):
            out.append(
                (
                    h,
                    f"NetworkPolicy {ns}/{name} selects every pod of the namespace and allows "
                    "traffic: select the workload's pods by label (only the default deny selects "
                    "every pod)",
                )
            )
    own = [
        (ns, spec)
        for _h, ns, _n, spec in policies
        if not empty_selector(spec.get("podSelector", {})) and set(BOTH) <= policy_types(spec)
    ]
    for pod in pod_templates_of(resources):
        if pod.namespace not in namespaces:
            continue
        if not any(
            ns == pod.namespace and selects(s.get("podSelector"), pod.labels) for ns, s in own
        ):
            out.append(
                (
                    pod.handle,
                    f"{pod.label} is selected by no NetworkPolicy of its own for Ingress and "
                    "Egress: render its contract's policy (components/network_policy.py) with "
                    "both policyTypes",
                )
            )
    return out


# ------------------------------------------------------------------------------- peers


def _network(cidr: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return None


def _excepted(block: Mapping[str, Any], target: Any) -> bool:
    """Whether `target` (an address or a network) lies inside one of the block's excepts."""
    for e in block.get("except") or []:
        net = _network(e)
        if net is None:
            continue
        if isinstance(target, ipaddress.IPv4Network | ipaddress.IPv6Network):
            if target.version == net.version and target.subnet_of(net):  # type: ignore[arg-type]
                return True
        elif target.version == net.version and target in net:
            return True
    return False


def _vpc_to_except(resources: Sequence[Planned]) -> ipaddress.IPv4Network | None:
    """The VPC, which HTTPS to anywhere must leave out unless interface endpoints put AWS's
    APIs on VPC addresses (components/runtime_contract.py https_outside)."""
    if any(
        t == VPC_ENDPOINT and p.get("vpcEndpointType") == "Interface" for _h, t, p, _n in resources
    ):
        return None
    nets = [_network(p.get("cidrBlock")) for _h, t, p, _n in resources if t == VPC]
    known = [n for n in nets if isinstance(n, ipaddress.IPv4Network)]
    return known[0] if len(known) == 1 else None


def _block_problems(
    where: str, block: Mapping[str, Any], vpc: ipaddress.IPv4Network | None
) -> Iterator[str]:
    net = _network(block.get("cidr"))
    if net is None:
        yield f"{where} ipBlock {block.get('cidr')!r} is not a CIDR: name the addresses it allows"
        return
    for imds in map(ipaddress.ip_address, IMDS):
        if imds.version == net.version and imds in net and not _excepted(block, imds):
            yield (
                f"{where} ipBlock {net} contains the instance metadata service {imds}: add "
                f"{imds}/{imds.max_prefixlen} to its except (pods get credentials from Pod "
                "Identity, never from the node)"
            )
    if vpc is not None and net.prefixlen == 0 and net.version == 4 and not _excepted(block, vpc):
        yield (
            f"{where} ipBlock {net} reaches into the VPC {vpc}: add it to the block's except "
            "(in-VPC peers are named by their own rules)"
        )


def _load_balanced(resources: Sequence[Planned]) -> list[tuple[str, Mapping[str, Any]]]:
    """(namespace, selector) of LoadBalancer Services that limit their source ranges: the one
    way in from outside the cluster (loadbalancer-source-ranges guards the ranges)."""
    out = []
    for _h, t, p, _n in resources:
        spec = p.get("spec") or {}
        if t != SERVICE or spec.get("type") != "LoadBalancer" or not spec.get("selector"):
            continue
        ranges = spec.get("loadBalancerSourceRanges") or []
        if ranges and not has_world(ranges):
            out.append((str(get(p, "metadata.namespace") or "default"), spec["selector"]))
    return out


def _peer_problems(where: str, peer: Mapping[str, Any]) -> Iterator[str]:
    if "ipBlock" in peer:
        return
    if "namespaceSelector" in peer and empty_selector(peer["namespaceSelector"]):
        yield (
            f"{where} namespaceSelector is empty (every namespace): name the namespace by its "
            "kubernetes.io/metadata.name label"
        )
    if empty_selector(peer.get("podSelector", {})):
        yield (
            f"{where} selects every pod of its namespace(s): name the peer's pods by label "
            "(podSelector.matchLabels)"
        )


def _ingress_open_ok(ns: str, spec: Mapping[str, Any], rule: Mapping[str, Any], lbs: list) -> bool:
    """Ingress from everyone is the load balancer's path: only on named ports, to pods a
    LoadBalancer Service with source ranges sends to."""
    pods = get(spec, "podSelector.matchLabels") or {}
    behind_lb = any(
        lb_ns == ns and all(pods.get(k) == v for k, v in sel.items()) for lb_ns, sel in lbs
    )
    return bool(rule.get("ports")) and behind_lb


def network_policy_peers(
    resources: Sequence[Planned], _cfg: Mapping[str, Any]
) -> list[tuple[Any, str]]:
    lbs = _load_balanced(resources)
    vpc = _vpc_to_except(resources)
    out = []
    for h, ns, name, spec in _policies(resources):
        label = f"NetworkPolicy {ns}/{name}"
        for i, rule in enumerate(spec.get("ingress") or []):
            at = f"{label} ingress[{i}]"
            peers = rule.get("from") or []
            world = [p for p in peers if "ipBlock" in p and has_world([get(p, "ipBlock.cidr")])]
            if (not peers or world) and not _ingress_open_ok(ns, spec, rule, lbs):
                out.append(
                    (
                        h,
                        f"{at} admits every source: name the peers in `from`, or expose the "
                        "pods through a LoadBalancer Service with loadBalancerSourceRanges "
                        "and list its ports",
                    )
                )
            for j, peer in enumerate(peers):
                out += [(h, m) for m in _peer_problems(f"{at}.from[{j}]", peer)]
        for i, rule in enumerate(spec.get("egress") or []):
            at = f"{label} egress[{i}]"
            peers = rule.get("to") or []
            if not peers:
                out.append((h, f"{at} allows egress to anywhere: name its destinations in `to`"))
            for j, peer in enumerate(peers):
                out += [(h, m) for m in _peer_problems(f"{at}.to[{j}]", peer)]
                if "ipBlock" in peer:
                    out += [(h, m) for m in _block_problems(f"{at}.to[{j}]", peer["ipBlock"], vpc)]
            if any("ipBlock" in p for p in peers) and not rule.get("ports"):
                out.append(
                    (h, f"{at} allows every port to an address block: list the ports it needs")
                )
    return out


# ------------------------------------------------------------------------- enforcement

EKS_COMPONENT = "eks:index:Cluster"
ADDON = "aws:eks/addon:Addon"


def _cni_enforces(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    """NetworkPolicies are enforced on EKS only by the VPC CNI's network policy agent, which
    its add-on runs with `enableNetworkPolicy: "true"` in configurationValues (pulumi-eks writes
    its vpcCniOptions.enableNetworkPolicy there, nodejs/eks/addons/cni-addon.ts)."""
    if type_ == EKS_COMPONENT:
        on = truthy(get(props, "vpcCniOptions.enableNetworkPolicy"))
    else:
        if props.get("addonName") != "vpc-cni":
            return []
        try:
            values = json.loads(props.get("configurationValues") or "{}")
        except (TypeError, ValueError):
            values = {}
        on = truthy(values.get("enableNetworkPolicy")) if isinstance(values, Mapping) else False
    if on:
        return []
    return [
        "the VPC CNI runs without its network policy agent, so no NetworkPolicy is enforced: "
        "set vpcCniOptions.enableNetworkPolicy (the vpc-cni add-on's enableNetworkPolicy) to true"
    ]


RULES = [
    Rule(
        "cni-network-policy-enforced",
        "The VPC CNI add-on runs its network policy agent, so NetworkPolicies are enforced.",
        MANDATORY,
        (EKS_COMPONENT, ADDON),
        _cni_enforces,
        controls=("CIS EKS 4.3.1",),
    ),
]

STACK_RULES = [
    StackRule(
        "network-policy-coverage",
        "Every namespace the stack creates has a default-deny NetworkPolicy, and every "
        "workload pod there is selected by a policy of its own for Ingress and Egress.",
        MANDATORY,
        network_policy_coverage,
        controls=("CIS EKS 4.3.2",),
    ),
    StackRule(
        "network-policy-peers-scoped",
        "NetworkPolicy rules name their peers (open ingress only behind a source-limited load "
        "balancer), egress to addresses names its ports and leaves out IMDS (and the VPC when "
        "AWS's APIs are not in it).",
        MANDATORY,
        network_policy_peers,
        controls=("CIS EKS 4.3.2",),
    ),
]
