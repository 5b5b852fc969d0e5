"""`trainstack:network`: the VPC block, its zones (from `aws:region`) and NAT/endpoint choices."""

from __future__ import annotations

import ipaddress
from typing import Literal

from .. import catalog
from .base import _Model, key
from .checks import not_in


class NetworkConfig(_Model):
    cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.0.0.0/16")
    az_count: int = 2
    nat_gateways: Literal["single", "perAz"] = "single"
    # ECR/STS/SQS/EC2 interface endpoints: less NAT traffic for image pulls, ~$7/month each per AZ.
    interface_endpoints: bool = False
    # The one zone of all EFA capacity (default: the first zone). Zone names map to different
    # physical zones per account, and EFA sizes are not offered in every zone.
    efa_zone: str | None = None


def check_network(n: NetworkConfig, region: str) -> list[str]:
    issues = []
    if not 16 <= n.cidr.prefixlen <= 20:
        issues.append(
            f"{key('network', 'cidr')} = '{n.cidr}': use a /16 to /20 block (pods take "
            "VPC addresses, so subnets must be large)"
        )
    if not n.cidr.is_private:
        issues.append(f"{key('network', 'cidr')} = '{n.cidr}': must be a private (RFC 1918) range")
    zones = catalog.REGION_ZONES.get(region)
    if zones is None:
        issues.append(not_in("aws:region", region, catalog.REGION_ZONES, problem="unknown region"))
    elif not 2 <= n.az_count <= len(zones):
        issues.append(
            f"{key('network', 'azCount')} = {n.az_count}: {region} has {len(zones)} "
            f"zones and EKS needs at least 2; allowed 2..{len(zones)}"
        )
    elif n.efa_zone is not None and n.efa_zone not in zones[: n.az_count]:
        issues.append(
            f"{key('network', 'efaZone')} = {n.efa_zone!r}: not one of the stack's "
            f"zones; allowed {', '.join(zones[: n.az_count])}"
        )
    return issues
