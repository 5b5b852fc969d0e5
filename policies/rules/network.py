"""The VPC around the cluster: no subnet hands out public IPs, the default security group admits
nothing, flow logs record rejected traffic, and no security group admits a range wider than the
VPC itself (the internet is no-world-ingress's, in aws.py).

Stack checks match a resource to its VPC by the VPC's ID; a VPC or group whose ID is not known
yet (a preview of a new stack) is left to the next run, which knows it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from .base import MANDATORY, Planned, Rule, StackRule, truthy

SUBNET = "aws:ec2/subnet:Subnet"
VPC = "aws:ec2/vpc:Vpc"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
# EC2.6's default parameter: the flow log must record rejected traffic (ALL includes it).
REJECTS_LOGGED = ("ALL", "REJECT")


def _subnet(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    if not truthy(props.get("mapPublicIpOnLaunch")):
        return []
    return [
        (
            "the subnet gives every instance launched in it a public IPv4 address: set "
            "mapPublicIpOnLaunch: false (NAT gateways and load balancers bring their own)"
        )
    ]


def _default_sg(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    rules = list(props.get("ingress") or []) + list(props.get("egress") or [])
    if not rules:
        return []
    return [
        (
            f"the VPC's default security group keeps {len(rules)} rule(s): leave ingress and "
            "egress empty, so anything launched without a group of its own is isolated"
        )
    ]


def known_ids(props: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str, ...]:
    """The IDs a VPC or security group is known by: the offline plan gives its ID among its
    names; CrossGuard's stack validation gives outputs only, whose `arn` ends in the ID
    (arn:aws:ec2:<region>:<account>:vpc/vpc-0abc, .../security-group/sg-0abc)."""
    arn = str(props.get("arn") or "")
    found = (*names, props.get("id"), arn.rsplit("/", 1)[-1] if "/" in arn else None)
    return tuple(str(n) for n in found if n)


def _vpcs(resources: Sequence[Planned]) -> list[tuple[Any, tuple[str, ...], Mapping[str, Any]]]:
    return [(h, known_ids(p, names), p) for h, t, p, names in resources if t == VPC]


def vpc_companions(resources: Sequence[Planned], _cfg: Mapping[str, Any]) -> list[tuple[Any, str]]:
    """Every VPC has its default security group emptied and a flow log recording rejects."""
    out = []
    defaults = [p for _h, t, p, _n in resources if t == DEFAULT_SG]
    logs = [p for _h, t, p, _n in resources if t == FLOW_LOG]
    for handle, vpc_ids, _props in _vpcs(resources):
        label = vpc_ids[0] if vpc_ids else "?"
        if not any(p.get("vpcId") in vpc_ids and not _default_sg("", p, {}) for p in defaults):
            if all(p.get("vpcId") for p in defaults):
                out.append(
                    (
                        handle,
                        f"VPC {label}'s default security group keeps AWS's allow rules: declare "
                        "an aws.ec2.DefaultSecurityGroup for it with no ingress and no egress",
                    )
                )
        if not any(
            p.get("vpcId") in vpc_ids and str(p.get("trafficType") or "").upper() in REJECTS_LOGGED
            for p in logs
        ):
            if all(p.get("vpcId") for p in logs):
                out.append(
                    (
                        handle,
                        f"VPC {label} has no flow log recording rejected traffic: declare an "
                        "aws.ec2.FlowLog for it with trafficType REJECT or ALL",
                    )
                )
    return out


def _within(cidr: str, vpc: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return net.version == vpc.version and net.subnet_of(vpc)  # type: ignore[arg-type]


def _ingress_cidrs(type_: str, props: Mapping[str, Any]) -> list[str]:
    if type_ == SG:
        rules = list(props.get("ingress") or [])
    elif type_ == SG_RULE:
        rules = [props] if props.get("type") == "ingress" else []
    else:
        rules = [props]
    cidrs: list[str] = []
    for r in rules:
        cidrs += [str(c) for c in r.get("cidrBlocks") or []]
        cidrs += [str(c) for c in (r.get("cidrIpv4"),) if c]
    return cidrs


def wide_ingress(resources: Sequence[Planned], _cfg: Mapping[str, Any]) -> list[tuple[Any, str]]:
    """Security-group ingress from IPv4 ranges outside the group's own VPC."""
    vpc_cidr: dict[str, ipaddress.IPv4Network] = {}
    for _h, vpc_ids, props in _vpcs(resources):
        try:
            net = ipaddress.IPv4Network(str(props.get("cidrBlock")))
        except ValueError:
            continue
        vpc_cidr.update({i: net for i in vpc_ids})
    group_vpc = {
        n: p.get("vpcId") for _h, t, p, names in resources if t == SG for n in known_ids(p, names)
    }
    out = []
    for handle, type_, props, names in resources:
        if type_ not in (SG, SG_RULE, SG_INGRESS):
            continue
        vpc_id = props.get("vpcId") if type_ == SG else group_vpc.get(props.get("securityGroupId"))
        if vpc_id not in vpc_cidr:
            continue  # a group in a VPC the stack does not create, or not known yet
        wide = [c for c in _ingress_cidrs(type_, props) if not _within(c, vpc_cidr[vpc_id])]
        if wide:
            out.append(
                (
                    handle,
                    f"{names[0] if names else 'security group'} admits {wide}, wider than its "
                    f"VPC {vpc_cidr[vpc_id]}: admit the VPC range or a source security group",
                )
            )
    return out


RULES = [
    Rule(
        "subnet-no-public-ip",
        "Subnets do not give instances public IPv4 addresses on launch.",
        MANDATORY,
        (SUBNET,),
        _subnet,
        controls=("FSBP EC2.15", "FSBP EC2.9", "FSBP EFS.6"),
    ),
    Rule(
        "vpc-default-sg-closed",
        "The VPC's default security group has no ingress and no egress rule.",
        MANDATORY,
        (DEFAULT_SG,),
        _default_sg,
        controls=("FSBP EC2.2",),
    ),
]
STACK_RULES = [
    StackRule(
        "vpc-default-sg-and-flow-logs",
        "Every VPC has its default security group emptied and a flow log recording rejected "
        "traffic.",
        MANDATORY,
        vpc_companions,
        controls=("FSBP EC2.2", "FSBP EC2.6"),
    ),
    StackRule(
        "sg-ingress-within-vpc",
        "Security groups admit no IPv4 range wider than their own VPC.",
        MANDATORY,
        wide_ingress,
    ),
]
