"""Services: the stack reaches its pods through ClusterIP Services, and from outside only through
a LoadBalancer limited to source ranges (loadbalancer-source-ranges, policies/rules/aws.py). A
NodePort opens the port on every node's address, and externalIPs let a Service claim traffic
for any address (CVE-2020-8554); the stack renders neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import MANDATORY, Rule, get, name_of
from .kube import SERVICE


def _exposure(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    out = []
    name = name_of(props)
    if get(props, "spec.type") == "NodePort":
        out.append(
            f"Service {name} is a NodePort, open on every node's address: use ClusterIP (or a "
            "LoadBalancer with loadBalancerSourceRanges)"
        )
    if get(props, "spec.externalIPs"):
        out.append(
            f"Service {name} claims externalIPs {get(props, 'spec.externalIPs')}: remove them; "
            "reach it through ClusterIP or a source-limited LoadBalancer"
        )
    return out


RULES = [
    Rule(
        "service-exposure-restricted",
        "Services are not NodePorts and claim no externalIPs.",
        MANDATORY,
        (SERVICE,),
        _exposure,
    ),
]
