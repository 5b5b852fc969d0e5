"""Decide whether a flow is allowed by rendered NetworkPolicies, as the VPC CNI's policy agent
enforces them, so tests can check every runtime flow against the plan's real policies.

The semantics follow aws/aws-network-policy-agent v1.2.7 (the agent of the pinned vpc-cni add-on
v1.20.4, charts/aws-vpc-cni/values.yaml nodeAgent.image.tag) and aws/amazon-network-policy-controller-k8s v1.1.7:

- A pod selected by no policy of a direction is open in that direction (standard mode).
- The node's primary IP is always allowed, both ways (agent pkg/fwruleprocessor/
  fw_rule_processor.go ComputeMapEntriesFromEndpointRules: "Traffic from the local node should
  always be allowed"); nothing else is special: link-local addresses such as the Pod Identity
  agent's 169.254.170.23 or IMDS are looked up like any other destination
  (pkg/ebpf/c/tc.v4egress.bpf.c handle_egress).
- `ipBlock.except` is honoured: an address in an except block is not matched by that block
  (the agent writes a deny entry for it unless another rule allows it, which `_rule_allows`
  reproduces by checking every rule).
- Pod and namespace selectors resolve to the IPs of matching, non-hostNetwork pods (controller
  pkg/resolvers/endpoints.go); a Service is reached at its pods: a headless one through DNS, a
  ClusterIP one because the controller adds its ClusterIP for egress rules whose podSelector
  matches its selector (getMatchingServiceClusterIPs), and ingress sees the pod IP after DNAT.
  Pods behind a Service that run in the host's network (the CloudWatch agent) resolve to no
  selector, so a connection to them through the Service is judged at its ClusterIP alone: the
  agent's eBPF egress hook sees the destination before kube-proxy rewrites it to the node's
  address, and the node exception does not apply. `local` Services (internalTrafficPolicy Local)
  send a client only to the pods on its own node.
- A port entry without a protocol is TCP (the API server defaults it); `endPort` is a range.
- Return traffic of an allowed connection passes (conntrack): only the opening direction counts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# The label-selector semantics the policy pack reads NetworkPolicies with (one reading of them).
from policies.rules.kube import selects


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: Mapping[str, str]
    ip: str
    node_ip: str
    host_network: bool = False


@dataclass(frozen=True)
class Address:
    """An endpoint that is no pod: an AWS endpoint, IMDS, the Pod Identity agent, a node."""

    name: str
    ip: str


@dataclass(frozen=True)
class Service:
    name: str
    namespace: str
    selector: Mapping[str, str]
    local: bool = False  # internalTrafficPolicy: Local


Endpoint = Pod | Address | Service


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    why: str

    def __bool__(self) -> bool:
        return self.allowed


def _in_block(ip: str, block: Mapping[str, Any]) -> bool:
    addr = ipaddress.ip_address(ip)
    if addr not in ipaddress.ip_network(block["cidr"]):
        return False
    return not any(addr in ipaddress.ip_network(e) for e in block.get("except") or [])


def _port_matches(entries: list[Mapping[str, Any]] | None, port: int, protocol: str) -> bool:
    if not entries:
        return True
    for entry in entries:
        if entry.get("protocol", "TCP") != protocol:
            continue
        p = entry.get("port")
        if p is None:
            return True
        if isinstance(p, str):
            raise ValueError(f"named port {p!r}: not used by this project, not modelled")
        if p == port or (entry.get("endPort") is not None and p <= port <= entry["endPort"]):
            return True
    return False


@dataclass
class ClusterModel:
    policies: list[dict[str, Any]]
    pods: list[Pod] = field(default_factory=list)
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)

    def _ns_labels(self, namespace: str) -> dict[str, str]:
        return {
            "kubernetes.io/metadata.name": namespace,
            **self.namespace_labels.get(namespace, {}),
        }

    def _peer_matches(self, peer: Mapping[str, Any], other: Endpoint, policy_ns: str) -> bool:
        if "ipBlock" in peer:
            return not isinstance(other, Service) and _in_block(other.ip, peer["ipBlock"])
        if isinstance(other, Address) or (isinstance(other, Pod) and other.host_network):
            return False  # selectors resolve to pod IPs (and ClusterIPs) only
        if "namespaceSelector" in peer:
            if not selects(peer["namespaceSelector"], self._ns_labels(other.namespace)):
                return False
        elif other.namespace != policy_ns:
            return False
        # A Service's ClusterIP: when the rule's podSelector matches the Service's selector.
        labels = other.selector if isinstance(other, Service) else other.labels
        return selects(peer.get("podSelector"), labels)

    def _selecting(self, pod: Pod, direction: str) -> list[dict[str, Any]]:
        out = []
        for p in self.policies:
            spec = p["spec"]
            if p["metadata"]["namespace"] != pod.namespace:
                continue
            types = spec.get("policyTypes") or (
                ["Ingress", "Egress"] if "egress" in spec else ["Ingress"]
            )
            if direction in types and selects(spec.get("podSelector"), pod.labels):
                out.append(p)
        return out

    def _rule_allows(
        self, pod: Pod, other: Endpoint, port: int, protocol: str, direction: str
    ) -> Verdict:
        policies = self._selecting(pod, direction)
        if not policies:
            return Verdict(True, f"no {direction} policy selects {pod.name}")
        key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
        for p in policies:
            for rule in p["spec"].get(key) or []:
                peers = rule.get(peers_key)
                if peers and not any(
                    self._peer_matches(peer, other, pod.namespace) for peer in peers
                ):
                    continue
                if _port_matches(rule.get("ports"), port, protocol):
                    return Verdict(True, f"{p['metadata']['name']} allows it")
        names = sorted(p["metadata"]["name"] for p in policies)
        return Verdict(False, f"{direction} of {pod.name}: no rule of {names} allows it")

    def backends(self, service: Service, client: Endpoint | None = None) -> list[Pod]:
        """The Service's pods; of a `local` one, those on the client's node."""
        return [
            p
            for p in self.pods
            if p.namespace == service.namespace
            and selects({"matchLabels": service.selector}, p.labels)
            and not (service.local and isinstance(client, Pod) and p.node_ip != client.node_ip)
        ]

    def allowed(self, src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP") -> Verdict:
        """Whether `src` can open a connection to `dst` on `port`: `src`'s egress and `dst`'s
        ingress must both allow it; a Service must be reachable at every pod behind it."""
        if isinstance(dst, Service):
            pods = self.backends(dst, src)
            if not pods:
                return Verdict(False, f"service {dst.name} has no pods")
            for pod in pods:
                if pod.host_network:  # judged at the ClusterIP; no policy selects the pod
                    if isinstance(src, Pod) and not src.host_network:
                        v = self._rule_allows(src, dst, port, protocol, "Egress")
                    else:
                        v = Verdict(True, "allowed")
                else:
                    v = self.allowed(src, pod, port, protocol)
                if not v:
                    return v
            return Verdict(True, f"every pod of {dst.name} is reachable")
        if isinstance(src, Service):
            raise ValueError("a Service opens no connections")
        if isinstance(src, Pod) and not src.host_network and dst.ip != src.node_ip:
            v = self._rule_allows(src, dst, port, protocol, "Egress")
            if not v:
                return v
        if isinstance(dst, Pod) and not dst.host_network and src.ip != dst.node_ip:
            v = self._rule_allows(dst, src, port, protocol, "Ingress")
            if not v:
                return v
        return Verdict(True, "allowed")

    def all_allowed(
        self, flows: Iterable[tuple[Endpoint, Endpoint, int, str]]
    ) -> list[tuple[str, str, int, str]]:
        """The flows that are denied, with why (empty: all allowed)."""
        denied = []
        for src, dst, port, protocol in flows:
            v = self.allowed(src, dst, port, protocol)
            if not v:
                denied.append((src.name, dst.name, port, v.why))
        return denied
