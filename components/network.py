"""Network: a VPC over the configured zones, private node subnets, NAT, and VPC endpoints; the
VPC's default security group emptied and a flow log of rejected traffic (FSBP EC2.2, EC2.6)."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from . import aws_names
from .config import NetworkConfig

INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "sts", "sqs", "ec2")
FLOW_LOG_RETENTION_DAYS = 30
# Rejected traffic only: what security needs from flow logs (probes, misrouted peers) at a
# fraction of ALL's volume, and what FSBP EC2.6 checks for by default.
FLOW_LOG_TRAFFIC = "REJECT"
FLOW_LOG_SERVICE = "vpc-flow-logs.amazonaws.com"


def render_flow_log_trust(partition: str, region: str, account: str) -> dict[str, Any]:
    """VPC Flow Logs may assume the delivery role for this account's flow logs only (the VPC
    user guide's flow-log role, with its confused-deputy conditions)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": FLOW_LOG_SERVICE},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{partition}:ec2:{region}:{account}:vpc-flow-log/*"
                    },
                },
            }
        ],
    }


def render_flow_log_policy(group_arn: str) -> dict[str, Any]:
    """What delivery does (the VPC user guide's list), on this stack's flow-log group only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DeliverToThisGroup",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogGroups",
                    "logs:DescribeLogStreams",
                ],
                "Resource": [group_arn, f"{group_arn}:*"],
            }
        ],
    }


def plan_subnets(
    cidr: ipaddress.IPv4Network, zones: int
) -> tuple[list[ipaddress.IPv4Network], list[ipaddress.IPv4Network]]:
    """Split the VPC block into large private subnets (pods take VPC IPs) and small public ones.

    The block is cut in eighths: one eighth per zone for private subnets (up to 6 zones), and the
    last eighth cut again in eighths for public subnets, which hold only NAT gateways and load
    balancers.
    """
    eighths = list(cidr.subnets(prefixlen_diff=3))
    if zones > 6:
        raise ValueError(f"at most 6 zones fit the subnet plan, got {zones}")
    public = list(eighths[-1].subnets(prefixlen_diff=3))
    return eighths[:zones], public[:zones]


@dataclass
class NetworkArgs:
    config: NetworkConfig
    cluster_name: str
    zones: list[str]
    region: str
    tags: dict[str, str] = field(default_factory=dict)


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("trainstack:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg = args.config
        tags = args.tags

        def named(suffix: str, **extra: str) -> dict[str, str]:
            return {**tags, "Name": f"{args.cluster_name}-{suffix}", **extra}

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(cfg.cidr),
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=named("vpc"),
            opts=child,
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=named("igw"), opts=child)
        # AWS's default group admits its own members and lets everything out; nothing the
        # stack launches uses it, so taking it over with no rules leaves it admitting nothing.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default",
            vpc_id=vpc.id,
            ingress=[],
            egress=[],
            tags=named("default"),
            opts=child,
        )
        self._flow_logs(name, vpc, args, child)

        private_cidrs, public_cidrs = plan_subnets(cfg.cidr, len(args.zones))
        public_rt = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            tags=named("public"),
            opts=child,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
        )

        public_subnets, private_subnets, private_rts, nats = [], [], [], []
        for i, (zone, priv, pub) in enumerate(zip(args.zones, private_cidrs, public_cidrs)):
            subnet = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                cidr_block=str(pub),
                availability_zone=zone,
                # Nothing launched here gets a public IP by default: only NAT and load balancers.
                map_public_ip_on_launch=False,
                tags=named(f"public-{zone}", **{"kubernetes.io/role/elb": "1"}),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}",
                subnet_id=subnet.id,
                route_table_id=public_rt.id,
                opts=child,
            )
            public_subnets.append(subnet)
            if cfg.nat_gateways == "perAz" or i == 0:
                eip = aws.ec2.Eip(
                    f"{name}-nat-{zone}", domain="vpc", tags=named(f"nat-{zone}"), opts=child
                )
                nats.append(
                    aws.ec2.NatGateway(
                        f"{name}-nat-{zone}",
                        allocation_id=eip.id,
                        subnet_id=subnet.id,
                        tags=named(f"nat-{zone}"),
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                    )
                )
            private = aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                cidr_block=str(priv),
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags=named(
                    f"private-{zone}",
                    **{
                        "kubernetes.io/role/internal-elb": "1",
                        # Karpenter's EC2NodeClass selects node subnets by this tag.
                        "karpenter.sh/discovery": args.cluster_name,
                    },
                ),
                opts=child,
            )
            rt = aws.ec2.RouteTable(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                tags=named(f"private-{zone}"),
                opts=child,
                routes=[
                    aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nats[-1].id)
                ],
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}", subnet_id=private.id, route_table_id=rt.id, opts=child
            )
            private_subnets.append(private)
            private_rts.append(rt)

        # Image layers come from S3 behind ECR: the gateway endpoint keeps them off the NAT bill.
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            vpc_endpoint_type="Gateway",
            service_name=f"com.amazonaws.{args.region}.s3",
            route_table_ids=[rt.id for rt in private_rts],
            tags=named("s3"),
            opts=child,
        )
        if cfg.interface_endpoints:
            sg = aws.ec2.SecurityGroup(
                f"{name}-endpoints",
                vpc_id=vpc.id,
                description="HTTPS from the VPC to endpoints",
                ingress=[
                    aws.ec2.SecurityGroupIngressArgs(
                        protocol="tcp", from_port=443, to_port=443, cidr_blocks=[str(cfg.cidr)]
                    )
                ],
                tags=named("endpoints"),
                opts=child,
            )
            for service in INTERFACE_ENDPOINTS:
                aws.ec2.VpcEndpoint(
                    f"{name}-{service.replace('.', '-')}",
                    vpc_id=vpc.id,
                    vpc_endpoint_type="Interface",
                    service_name=f"com.amazonaws.{args.region}.{service}",
                    private_dns_enabled=True,
                    subnet_ids=[s.id for s in private_subnets],
                    security_group_ids=[sg.id],
                    tags=named(service),
                    opts=child,
                )

        self.vpc_id = vpc.id
        self.private_subnet_ids = [s.id for s in private_subnets]
        self.public_subnet_ids = [s.id for s in public_subnets]
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "privateSubnetIds": self.private_subnet_ids,
                "publicSubnetIds": self.public_subnet_ids,
            }
        )

    def _flow_logs(
        self, name: str, vpc: aws.ec2.Vpc, args: NetworkArgs, child: pulumi.ResourceOptions
    ) -> None:
        """Rejected traffic of the whole VPC into a CloudWatch log group, through a role only
        VPC Flow Logs (for this account's flow logs) can assume."""
        invoke = pulumi.InvokeOutputOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition
        group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=aws_names.flow_log_group(args.cluster_name),
            retention_in_days=FLOW_LOG_RETENTION_DAYS,
            tags=args.tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=pulumi.Output.all(partition, account).apply(
                lambda a: json.dumps(render_flow_log_trust(a[0], args.region, a[1]))
            ),
            tags=args.tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=group.arn.apply(lambda arn: json.dumps(render_flow_log_policy(arn))),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=vpc.id,
            traffic_type=FLOW_LOG_TRAFFIC,
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            tags=args.tags,
            opts=child,
        )
