"""The idle cost of what the plan creates, priced resource by resource from its type and inputs.

Every resource type the Pulumi program can register is in `RULES`: either a pricer that turns a
resource into priced lines (`Item`), or the reason it costs nothing while idle (`Unpriced`):

- "usage": billed by use (requests, bytes stored or moved), $0 until something uses it;
- "free": no charge of its own (IAM, routing, Kubernetes objects on nodes priced elsewhere);
- "included": priced in another line (node groups and NodePools with the pools, a PV with its
  file system);
- "missing": costs money while idle, but this table has no price for it: said, never guessed.

A type not in `RULES` is reported as "unknown" (and tests/cost fail on it), so a new kind of
resource cannot cost money without anyone noticing. Rates come from the price table
(prices.py), each `Item` naming the row whose dated source backs it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from components import versions

from .items import Item
from .prices import PriceTable
from .resource_types import FREE, INCLUDED, MISSING, USAGE

Kind = Literal["usage", "free", "included", "missing", "unknown"]


@dataclass(frozen=True)
class Resource:
    """What the pricing needs of one registered resource: its type token, name and inputs
    (plain values, secrets unwrapped)."""

    type: str
    name: str
    inputs: Mapping[str, Any]


@dataclass(frozen=True)
class Unpriced:
    kind: Kind
    reason: str


@dataclass(frozen=True)
class UnpricedLine:
    """Resources of one type left out of the idle figure for one reason."""

    type: str
    kind: Kind
    reason: str
    names: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "kind": self.kind,
            "reason": self.reason,
            "count": len(self.names),
        }


@dataclass(frozen=True)
class ResourceCost:
    items: tuple[Item, ...]
    unpriced: tuple[UnpricedLine, ...]

    def of_kind(self, *kinds: Kind) -> list[UnpricedLine]:
        return [u for u in self.unpriced if u.kind in kinds]


@dataclass(frozen=True)
class _Plan:
    prices: PriceTable
    resources: Sequence[Resource]
    today: str = field(default_factory=lambda: date.today().isoformat())

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]


Priced = list["Item | Unpriced"]
Rule = Callable[[Resource, _Plan], Priced]

# ------------------------------------------------------------------------------------ pricers


def _control_plane(r: Resource, plan: _Plan) -> Priced:
    # EKS bills by the version's support state on the day: priced as of today, since a cluster
    # kept on a version past its standard support pays the extended rate from that day on.
    version = str(r.inputs.get("version") or "")
    if versions.in_extended_support(version, plan.today):
        return [
            Item(
                f"EKS control plane ({version}: extended support)",
                1,
                "cluster",
                plan.prices.eks_control_plane_extended,
                "eksControlPlaneExtended",
            )
        ]
    return [
        Item("EKS control plane", 1, "cluster", plan.prices.eks_control_plane, "eksControlPlane")
    ]


def _nat_gateway(r: Resource, plan: _Plan) -> Priced:
    return [
        Item("NAT gateway", 1, "gateway", plan.prices.nat_gateway, "natGateway"),
        Unpriced("usage", "data processed, per GB"),
    ]


def _eip(r: Resource, plan: _Plan) -> Priced:
    # Since 2024-02 every public IPv4 address is billed by the hour, attached or not.
    return [
        Item(
            "public IPv4 address (Elastic IP)",
            1,
            "address",
            plan.prices.public_ipv4,
            "publicIpv4Hour",
        )
    ]


def _vpc_endpoint(r: Resource, plan: _Plan) -> Priced:
    if r.inputs.get("vpcEndpointType") != "Interface":
        return [Unpriced("free", "a gateway endpoint (S3) has no charge")]
    zones = len(r.inputs.get("subnetIds") or [])  # one ENI per zone, each billed by the hour
    return [
        Item(
            "interface endpoints",
            zones,
            "endpoint-AZ",
            plan.prices.interface_endpoint_per_az,
            "interfaceEndpointPerAz",
        ),
        Unpriced("usage", "interface endpoints: data processed, per GB"),
    ]


def _dashboard(r: Resource, plan: _Plan) -> Priced:
    return [
        Item(
            "CloudWatch dashboard", 1, "dashboard", plan.prices.cloudwatch_dashboard,
            "cloudwatchDashboardMonth",
        ),
        Unpriced("usage", "the metrics its panels read, and the custom metrics it shows"),
    ]  # fmt: skip


def _kms_key(r: Resource, plan: _Plan) -> Priced:
    return [
        Item(f"KMS key ({r.name})", 1, "key", plan.prices.kms_key, "kmsKeyMonth"),
        Unpriced(
            "usage",
            "requests beyond the free tier; each yearly rotation adds a backing key at $1/month",
        ),
    ]


def _lustre(r: Resource, plan: _Plan) -> Priced:
    deployment = r.inputs.get("deploymentType", "SCRATCH_1")
    throughput = r.inputs.get("perUnitStorageThroughput")
    throughput = int(throughput) if throughput is not None else None
    capacity = float(r.inputs.get("storageCapacity", 0))
    tier = f"{deployment} {throughput} MB/s/TiB" if throughput else deployment
    rate = plan.prices.fsx_lustre(deployment, throughput, r.name)
    out: Priced = [
        Item(f"FSx Lustre {tier}", capacity, "GiB", rate, "fsxLustreGbMonth"),
        Unpriced("usage", "FSx for Lustre: backups and data repository (S3) traffic"),
    ]
    mode = (r.inputs.get("metadataConfiguration") or {}).get("mode", "AUTOMATIC")
    if mode != "AUTOMATIC":  # AUTOMATIC metadata IOPS come with the capacity
        out.append(Unpriced("missing", f"{r.name}: {mode} metadata IOPS, billed on top"))
    return out


def _class_provisioner(plan: _Plan, name: str) -> str | None:
    for sc in plan.of_type("kubernetes:storage.k8s.io/v1:StorageClass"):
        if (sc.inputs.get("metadata") or {}).get("name") == name:
            return sc.inputs.get("provisioner")
    return None


def _claim(r: Resource, plan: _Plan) -> Priced:
    # The config's own quantity reader; components' config loads botocore, so only when a claim
    # is priced (this module loads with every CLI command).
    from components.config.sizing import gib

    spec = r.inputs.get("spec") or {}
    if spec.get("volumeName"):
        return [Unpriced("included", "bound to a PersistentVolume the stack creates")]
    cls = spec.get("storageClassName")
    provisioner = _class_provisioner(plan, cls) if cls else None
    if provisioner == "ebs.csi.aws.com":
        # The volume exists from the first pod that mounts the claim until the claim is deleted,
        # idle or not: priced as provisioned.
        size = gib(((spec.get("resources") or {}).get("requests") or {}).get("storage", "0"))
        name = (r.inputs.get("metadata") or {}).get("name", r.name)
        return [
            Item(f"EBS volume of claim {name}", size, "GiB gp3", plan.prices.gp3_gib, "gp3GbMonth")
        ]
    if provisioner == "efs.csi.aws.com":
        return [Unpriced("included", "an access point of the stack's EFS file system")]
    return [
        Unpriced(
            "missing",
            f"a volume StorageClass {cls!r}'s CSI driver creates when the claim binds (a class "
            "the stack does not create, so its type and price are unknown here)",
        )
    ]


def _service(r: Resource, plan: _Plan) -> Priced:
    spec = r.inputs.get("spec") or {}
    if spec.get("type") != "LoadBalancer":
        return [Unpriced("free", "a Kubernetes object on the nodes priced above")]
    name = (r.inputs.get("metadata") or {}).get("name", r.name)
    out: Priced = [
        Item(f"Network Load Balancer ({name})", 1, "load balancer", plan.prices.nlb, "nlbHour"),
        Unpriced("usage", "Network Load Balancer: NLCU-hours by connections and bytes"),
    ]
    notes = (r.inputs.get("metadata") or {}).get("annotations") or {}
    internal = notes.get(
        "service.beta.kubernetes.io/aws-load-balancer-scheme"
    ) == "internal" or notes.get("service.beta.kubernetes.io/aws-load-balancer-internal") in (
        "true",
        "0.0.0.0/0",
    )
    if not internal:
        # Internet-facing: one public IPv4 address in each public (role/elb) subnet.
        zones = sum(
            1
            for s in plan.of_type("aws:ec2/subnet:Subnet")
            if "kubernetes.io/role/elb" in (s.inputs.get("tags") or {})
        )
        out.append(
            Item(
                f"public IPv4 addresses of {name}",
                zones,
                "address",
                plan.prices.public_ipv4,
                "publicIpv4Hour",
            )
        )
    return out


PRICERS: dict[str, Rule] = {
    "eks:index:Cluster": _control_plane,
    "aws:ec2/natGateway:NatGateway": _nat_gateway,
    "aws:ec2/eip:Eip": _eip,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _vpc_endpoint,
    "aws:kms/key:Key": _kms_key,
    "aws:cloudwatch/dashboard:Dashboard": _dashboard,
    "aws:fsx/lustreFileSystem:LustreFileSystem": _lustre,
    "kubernetes:core/v1:PersistentVolumeClaim": _claim,
    "kubernetes:core/v1:Service": _service,
}


def _static(kind: Kind, reason: str) -> Rule:
    return lambda r, plan: [Unpriced(kind, reason)]


RULES: dict[str, Rule] = {
    **PRICERS,
    **{t: _static("usage", why) for t, why in USAGE.items()},
    **{t: _static("free", why) for t, why in FREE.items()},
    **{t: _static("included", why) for t, why in INCLUDED.items()},
    **{t: _static("missing", why) for t, why in MISSING.items()},
}


def known(type_: str) -> bool:
    """Whether the table says how a resource of this type is priced (or why it is not)."""
    return type_ in RULES or type_.startswith("trainstack:")  # the program's own components


# ----------------------------------------------------------------------------------- pricing


# The order of the report's idle lines: the network and control plane first, keys last.
_ORDER = (
    "eksControlPlane",
    "natGateway",
    "publicIpv4Hour",
    "interfaceEndpointPerAz",
    "nlbHour",
    "fsxLustreGbMonth",
    "gp3GbMonth",
    "kmsKeyMonth",
    "cloudwatchDashboardMonth",
)


def _merge(items: Iterable[Item]) -> tuple[Item, ...]:
    """Identical lines (3 NAT gateways) become one with their quantities summed, in a fixed
    order (the program registers resources concurrently)."""
    counts: Counter[tuple[str, str, float, str]] = Counter()
    for i in items:
        counts[(i.what, i.unit, i.unit_hourly, i.price)] += i.quantity
    merged = [Item(w, q, u, h, p) for (w, u, h, p), q in counts.items()]
    rank = {k: n for n, k in enumerate(_ORDER)}
    return tuple(sorted(merged, key=lambda i: (rank.get(i.price, len(rank)), i.what)))


def price_resources(resources: Sequence[Resource], prices: PriceTable) -> ResourceCost:
    """Idle lines and unpriced reasons of the plan's resources; raises PriceError when a rate a
    resource needs is missing from the table."""
    plan = _Plan(prices, resources)
    items: list[Item] = []
    unpriced: dict[tuple[str, Kind, str], list[str]] = {}
    for r in resources:
        if r.type.startswith("trainstack:"):
            continue  # a component of this program: a grouping, its children are priced
        rule = RULES.get(r.type)
        found = (
            rule(r, plan)
            if rule
            else [Unpriced("unknown", "not in trainstack/cost/resources.py: may cost money")]
        )
        for f in found:
            if isinstance(f, Item):
                items.append(f)
            else:
                unpriced.setdefault((r.type, f.kind, f.reason), []).append(r.name)
    lines = sorted(
        (UnpricedLine(t, k, why, tuple(sorted(n))) for (t, k, why), n in unpriced.items()),
        key=lambda u: (u.kind, u.type, u.reason),
    )
    return ResourceCost(_merge(items), tuple(lines))
