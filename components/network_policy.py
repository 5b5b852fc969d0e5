"""NetworkPolicies of the jobs namespace: deny by default, then one policy per workload,
generated from its runtime contract (runtime_contract.py), so what a policy allows is exactly
what the workload declares it calls and is called by.

Pure functions returning Kubernetes JSON (validated against the schemas by the tests, and
evaluated flow by flow by tests/netpol_eval.py). They are enforced only by a policy engine: on
EKS the VPC CNI's network policy agent, which the cluster enables (components/cluster.py,
vpc-cni `enableNetworkPolicy`). EFA traffic (SRD, OS bypass) never enters the kernel's IP stack,
so these rules cannot and do not filter it. Kubelet probes (KubeRay's HTTP health probes) come
from the node's IP, which the agent always allows (aws/aws-network-policy-agent PR #65, "Ignore
policy restrictions against Node IP").
"""

from __future__ import annotations

from typing import Any

from .runtime_contract import Contract, Peer


def _policy(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "trainstack"},
        },
        "spec": spec,
    }


def render_default_deny(namespace: str) -> dict[str, Any]:
    """Every pod of the namespace: no traffic in or out but what another policy allows."""
    return _policy(
        "default-deny", namespace, {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    )


def _peer(peer: Peer) -> dict[str, Any] | None:
    """The NetworkPolicyPeer of `peer`; None for anyone (the rule then has no from/to)."""
    if peer.cidr is not None:
        block: dict[str, Any] = {"cidr": peer.cidr}
        if peer.except_cidrs:
            block["except"] = list(peer.except_cidrs)
        return {"ipBlock": block}
    if peer.pods is None and peer.namespace is None:
        return None
    out: dict[str, Any] = {"podSelector": {"matchLabels": dict(peer.pods or {})}}
    if peer.namespace is not None:
        out["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": peer.namespace}}
    return out


def _rule(peer: Peer, direction: str) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    target = _peer(peer)
    if target is not None:
        rule[direction] = [target]
    if peer.ports:
        rule["ports"] = [{"protocol": p.protocol, "port": p.port} for p in peer.ports]
    return rule


def render_contract(contract: Contract, namespace: str) -> dict[str, Any]:
    """The one policy selecting the contract's pods: ingress from `called_by`, egress to its
    calls (with the agent and API server its identity and RBAC imply). An empty list denies
    that direction."""
    return _policy(
        contract.name,
        namespace,
        {
            "podSelector": {"matchLabels": dict(contract.pods)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [_rule(p, "from") for p in contract.called_by],
            "egress": [_rule(p, "to") for p in contract.egress()],
        },
    )
