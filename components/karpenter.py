"""Karpenter: controller IAM via Pod Identity, interruption queue, chart, EC2NodeClasses, NodePools.

The Kubernetes objects are produced by pure `render_*` functions so they can be validated against
the upstream CRDs without a cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from policies.required import IMDS_HOP_LIMIT  # the pack's value: one source of truth

from . import aws_names, versions
from .charts import helm_release
from .config import KarpenterConfig, NodePoolConfig
from .iam import node_role as make_node_role
from .iam import pod_identity_role
from .scheduling import GPU_TAINT, node_labels

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "karpenter"
RELEASE = "karpenter"
DISCOVERY_TAG = "karpenter.sh/discovery"
CRD_CHART = "oci://public.ecr.aws/karpenter/karpenter-crd"


interruption_queue_name = aws_names.interruption_queue

# EventBridge rules that feed the interruption queue, so Karpenter drains a node before AWS
# takes it away (spot reclaim, scheduled maintenance) instead of losing the pods mid-step.
INTERRUPTION_EVENTS = {
    "health": ("aws.health", "AWS Health Event"),
    "spot-interruption": ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
    "rebalance": ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
    "state-change": ("aws.ec2", "EC2 Instance State-change Notification"),
    "capacity-reservation": ("aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning"),
}


ZONE_LABEL = "topology.kubernetes.io/zone"


@dataclass(frozen=True)
class EfaPlacement:
    """Where an EFA pool's nodes go: the EFA zone's private subnet and one cluster placement group.

    EFA traffic does not cross zones, and a cluster placement group cannot span them; Karpenter
    (v1.14 placement-groups design) leaves an empty cluster group's zone to EC2 unless the NodePool
    pins it, so the NodePool requires the zone and the node class selects only that zone's subnet.
    """

    subnet_id: str
    placement_group: str


# --------------------------------------------------------------------------- pure renderers


def render_ec2_node_class(
    pool: str,
    pool_cfg: NodePoolConfig,
    *,
    cluster_name: str,
    node_role_name: str,
    ami_alias: str,
    tags: dict[str, str],
    placement: EfaPlacement | None = None,
) -> dict[str, Any]:
    if pool_cfg.efa and placement is None:
        raise ValueError(f"EFA pool {pool!r} needs an EfaPlacement (zone, subnet, placement group)")
    nc = {
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": pool},
        "spec": {
            "amiSelectorTerms": [{"alias": ami_alias}],
            "role": node_role_name,
            "subnetSelectorTerms": [{"tags": {DISCOVERY_TAG: cluster_name}}],
            "securityGroupSelectorTerms": [{"tags": {DISCOVERY_TAG: cluster_name}}],
            "metadataOptions": {
                "httpEndpoint": "enabled",
                "httpProtocolIPv6": "disabled",
                "httpPutResponseHopLimit": IMDS_HOP_LIMIT,
                "httpTokens": "required",
            },
            "blockDeviceMappings": [
                {
                    "deviceName": "/dev/xvda",
                    "ebs": {
                        "volumeSize": f"{pool_cfg.disk_size_gib}Gi",
                        "volumeType": "gp3",
                        "encrypted": True,
                        "deleteOnTermination": True,
                    },
                }
            ],
            # g5/g4dn local NVMe becomes the node's ephemeral storage (image layers, /tmp).
            "instanceStorePolicy": "RAID0",
            "tags": {**tags, "trainstack.io/pool": pool},
        },
    }
    if pool_cfg.efa:
        # EC2NodeClass v1 (karpenter-provider-aws v1.14.1 CRD): a subnet term is an id or tags,
        # and placementGroupSelector names one group by name xor id.
        nc["spec"]["subnetSelectorTerms"] = [{"id": placement.subnet_id}]
        nc["spec"]["placementGroupSelector"] = {"name": placement.placement_group}
    return nc


def render_node_pool(
    pool: str, pool_cfg: NodePoolConfig, efa_zone: str | None = None
) -> dict[str, Any]:
    if pool_cfg.efa or pool_cfg.instance_types:
        # EFA pools list the EFA-capable sizes explicitly: a family alone would admit xlarge.
        selector = {
            "key": "node.kubernetes.io/instance-type",
            "operator": "In",
            "values": [i.name for i in pool_cfg.facts(pool).instances],
        }
    else:
        selector = {
            "key": "karpenter.k8s.aws/instance-family",
            "operator": "In",
            "values": list(pool_cfg.instance_families),
        }
    requirements = [
        selector,
        {
            "key": "karpenter.sh/capacity-type",
            "operator": "In",
            "values": list(pool_cfg.capacity_types),
        },
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
    ]
    if pool_cfg.efa:
        if not efa_zone:
            raise ValueError(f"EFA pool {pool!r} needs the zone its placement group is in")
        # One zone for every node of the pool: a job's ranks must share the EFA fabric.
        requirements.append({"key": ZONE_LABEL, "operator": "In", "values": [efa_zone]})
    limits: dict[str, Any] = {"nvidia.com/gpu": pool_cfg.max_gpus}
    if pool_cfg.max_nodes is not None:
        limits["nodes"] = pool_cfg.max_nodes
    spec: dict[str, Any] = {
        "template": {
            "metadata": {"labels": node_labels(pool, pool_cfg, efa=pool_cfg.efa)},
            "spec": {
                "nodeClassRef": {
                    "group": "karpenter.k8s.aws",
                    "kind": "EC2NodeClass",
                    "name": pool,
                },
                "requirements": requirements,
                "taints": [dict(GPU_TAINT)],
                "expireAfter": "720h",
            },
        },
        "limits": limits,
        # Only empty nodes are reclaimed, and only after a delay longer than an image pull, so
        # a running job is never consolidated away.
        "disruption": {
            "consolidationPolicy": "WhenEmpty",
            "consolidateAfter": pool_cfg.consolidate_after,
            "budgets": [{"nodes": "10%"}],
        },
    }
    if pool_cfg.weight is not None:
        spec["weight"] = pool_cfg.weight
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": pool},
        "spec": spec,
    }


def render_controller_policy(
    *,
    cluster_name: str,
    region: str,
    account: str,
    partition: str,
    node_role_arn: str,
    queue_arn: str,
) -> dict[str, Any]:
    """The controller's IAM policy, scoped to resources tagged for this cluster.

    Follows the reference controller policy of karpenter-provider-aws v1.14.1
    (website/content/en/docs/getting-started/getting-started-with-karpenter/cloudformation.yaml),
    statement by statement, with the same Sids, conditions and scoping.
    """
    ec2 = f"arn:{partition}:ec2:{region}"
    cluster_arn = f"arn:{partition}:eks:{region}:{account}:cluster/{cluster_name}"
    owned = {
        f"aws:RequestTag/kubernetes.io/cluster/{cluster_name}": "owned",
        "aws:RequestTag/eks:eks-cluster-name": cluster_name,
    }
    launched = [
        f"{ec2}:*:{kind}/*"
        for kind in (
            "fleet",
            "instance",
            "volume",
            "network-interface",
            "launch-template",
            "spot-instances-request",
        )
    ]
    profile = f"arn:{partition}:iam::{account}:instance-profile/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowScopedEC2InstanceAccessActions",
                "Effect": "Allow",
                "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
                "Resource": [
                    f"{ec2}::image/*",
                    f"{ec2}::snapshot/*",
                    f"{ec2}:*:security-group/*",
                    f"{ec2}:*:subnet/*",
                    f"{ec2}:*:capacity-reservation/*",
                    # Launching into an EFA pool's cluster placement group.
                    f"{ec2}:*:placement-group/*",
                ],
            },
            {
                "Sid": "AllowScopedEC2LaunchTemplateAccessActions",
                "Effect": "Allow",
                "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
                "Resource": f"{ec2}:*:launch-template/*",
                "Condition": {
                    "StringEquals": {
                        f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned"
                    },
                    "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                },
            },
            {
                "Sid": "AllowScopedEC2InstanceActionsWithTags",
                "Effect": "Allow",
                "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
                "Resource": launched,
                "Condition": {
                    "StringEquals": owned,
                    "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
                },
            },
            {
                "Sid": "AllowScopedResourceCreationTagging",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": launched,
                "Condition": {
                    "StringEquals": {
                        **owned,
                        "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"],
                    },
                    "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
                },
            },
            {
                "Sid": "AllowScopedResourceTagging",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": f"{ec2}:*:instance/*",
                "Condition": {
                    "StringEquals": {
                        f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned"
                    },
                    "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                    "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster_name},
                    "ForAllValues:StringEquals": {
                        "aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]
                    },
                },
            },
            {
                "Sid": "AllowScopedDeletion",
                "Effect": "Allow",
                "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
                "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
                "Condition": {
                    "StringEquals": {
                        f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned"
                    },
                    "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                },
            },
            {
                "Sid": "AllowRegionalReadActions",
                "Effect": "Allow",
                "Action": [
                    "ec2:DescribeCapacityReservations",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstances",
                    # Instance health checks; without it the controller logs an error each poll.
                    "ec2:DescribeInstanceStatus",
                    "ec2:DescribeInstanceTypeOfferings",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplates",
                    # Resolving an EC2NodeClass's placementGroupSelector.
                    "ec2:DescribePlacementGroups",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSpotPriceHistory",
                    "ec2:DescribeSubnets",
                ],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
            },
            {
                "Sid": "AllowSSMReadActions",
                "Effect": "Allow",
                "Action": "ssm:GetParameter",
                "Resource": f"arn:{partition}:ssm:{region}::parameter/aws/service/*",
            },
            {
                "Sid": "AllowPricingReadActions",
                "Effect": "Allow",
                "Action": "pricing:GetProducts",
                "Resource": "*",
            },
            {
                "Sid": "AllowInterruptionQueueActions",
                "Effect": "Allow",
                "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
                "Resource": queue_arn,
            },
            {
                "Sid": "AllowPassingInstanceRole",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": node_role_arn,
                "Condition": {
                    "StringEquals": {
                        "iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"]
                    }
                },
            },
            {
                "Sid": "AllowScopedInstanceProfileCreationActions",
                "Effect": "Allow",
                "Action": "iam:CreateInstanceProfile",
                "Resource": profile,
                "Condition": {
                    "StringEquals": {
                        **owned,
                        "aws:RequestTag/topology.kubernetes.io/region": region,
                    },
                    "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"},
                },
            },
            {
                "Sid": "AllowScopedInstanceProfileTagActions",
                "Effect": "Allow",
                "Action": "iam:TagInstanceProfile",
                "Resource": profile,
                "Condition": {
                    "StringEquals": {
                        f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned",
                        "aws:ResourceTag/topology.kubernetes.io/region": region,
                        **owned,
                        "aws:RequestTag/topology.kubernetes.io/region": region,
                    },
                    "StringLike": {
                        "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                        "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*",
                    },
                },
            },
            {
                "Sid": "AllowScopedInstanceProfileActions",
                "Effect": "Allow",
                "Action": [
                    "iam:AddRoleToInstanceProfile",
                    "iam:RemoveRoleFromInstanceProfile",
                    "iam:DeleteInstanceProfile",
                ],
                "Resource": profile,
                "Condition": {
                    "StringEquals": {
                        f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned",
                        "aws:ResourceTag/topology.kubernetes.io/region": region,
                    },
                    "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"},
                },
            },
            {
                "Sid": "AllowUnscopedInstanceProfileListAction",
                "Effect": "Allow",
                "Action": "iam:ListInstanceProfiles",
                "Resource": "*",
            },
            {
                "Sid": "AllowInstanceProfileReadActions",
                "Effect": "Allow",
                "Action": "iam:GetInstanceProfile",
                "Resource": profile,
            },
            {
                "Sid": "AllowAPIServerEndpointDiscovery",
                "Effect": "Allow",
                "Action": "eks:DescribeCluster",
                "Resource": cluster_arn,
            },
            # Karpenter avoids zones under an ARC zonal shift of this cluster.
            {
                "Sid": "AllowZonalShiftStatusReadOnly",
                "Effect": "Allow",
                "Action": "arc-zonal-shift:GetManagedResource",
                "Resource": "*",
                "Condition": {"StringEquals": {"arc-zonal-shift:ResourceIdentifier": cluster_arn}},
            },
        ],
    }


def render_queue_policy(queue_arn: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EventBridgeWrite",
                "Effect": "Allow",
                "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
            },
            {
                "Sid": "DenyHTTP",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": queue_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def chart_values(
    *, cluster_name: str, queue_name: str, region: str, system_label: tuple[str, str], replicas: int
) -> dict[str, Any]:
    key, value = system_label
    return {
        "settings": {"clusterName": cluster_name, "interruptionQueue": queue_name},
        "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
        "replicas": replicas,
        # On the system node group: Karpenter must never run on nodes it manages.
        "nodeSelector": {"kubernetes.io/os": "linux", key: value},
        "controller": {
            "resources": {
                "requests": {"cpu": "500m", "memory": "1Gi"},
                "limits": {"memory": "1Gi"},
            },
            # The region from config, not from IMDS: nodes allow one IMDS hop, which a pod's
            # network namespace already uses up. The chart (v1.14.1 templates/deployment.yaml)
            # appends controller.env to the container's env.
            "env": [{"name": "AWS_REGION", "value": region}],
        },
    }


# ------------------------------------------------------------------------------- component


@dataclass
class KarpenterArgs:
    config: KarpenterConfig
    cluster_name: pulumi.Input[str]
    cluster_security_group_id: pulumi.Input[str]
    region: str
    provider: k8s.Provider
    system_label: tuple[str, str]
    system_replicas: int
    # The zone EFA pools are pinned to and that zone's private subnet (the EFA node groups' too).
    efa_zone: str | None = None
    efa_subnet_id: pulumi.Input[str] | None = None
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


class Karpenter(pulumi.ComponentResource):
    queue_name: pulumi.Output[str]
    node_role_name: pulumi.Output[str]
    node_pools: dict[str, k8s.apiextensions.CustomResource]

    def __init__(self, name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("trainstack:karpenter:Karpenter", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg, tags = args.config, args.tags
        cluster_name = pulumi.Output.from_input(args.cluster_name)

        # Nodes: role with an EC2_LINUX access entry (a STANDARD entry leaves nodes unable to join).
        node_role = make_node_role(f"{name}-node", child, tags)
        access = aws.eks.AccessEntry(
            f"{name}-node",
            cluster_name=cluster_name,
            principal_arn=node_role.arn,
            type="EC2_LINUX",
            tags=tags,
            opts=child,
        )
        # Karpenter selects node security groups by the discovery tag: tag the cluster SG.
        aws.ec2.Tag(
            f"{name}-cluster-sg-discovery",
            resource_id=args.cluster_security_group_id,
            key=DISCOVERY_TAG,
            value=cluster_name,
            opts=child,
        )
        if cfg.create_spot_service_linked_role:
            aws.iam.ServiceLinkedRole(
                f"{name}-spot", aws_service_name="spot.amazonaws.com", opts=child
            )

        queue = aws.sqs.Queue(
            f"{name}-interruptions",
            name=cluster_name.apply(interruption_queue_name),
            message_retention_seconds=300,
            sqs_managed_sse_enabled=True,
            tags=tags,
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-interruptions",
            queue_url=queue.url,
            policy=queue.arn.apply(lambda a: json.dumps(render_queue_policy(a))),
            opts=child,
        )
        for rule_name, (source, detail_type) in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-{rule_name}",
                description=f"Karpenter interruption: {detail_type}",
                event_pattern=json.dumps({"source": [source], "detail-type": [detail_type]}),
                tags=tags,
                opts=child,
            )
            aws.cloudwatch.EventTarget(
                f"{name}-{rule_name}",
                rule=rule.name,
                arn=queue.arn,
                target_id="KarpenterInterruptionQueue",
                opts=child,
            )

        # Controller: Pod Identity role with a policy scoped to this cluster.
        controller_role = pod_identity_role(f"{name}-controller", child, tags)
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
        policy = pulumi.Output.all(
            cluster_name, identity.account_id, partition.partition, node_role.arn, queue.arn
        ).apply(
            lambda a: json.dumps(
                render_controller_policy(
                    cluster_name=a[0],
                    region=args.region,
                    account=a[1],
                    partition=a[2],
                    node_role_arn=a[3],
                    queue_arn=a[4],
                )
            )
        )
        controller_policy = aws.iam.RolePolicy(
            f"{name}-controller", role=controller_role.id, policy=policy, opts=child
        )
        association = aws.eks.PodIdentityAssociation(
            f"{name}-controller",
            cluster_name=cluster_name,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            role_arn=controller_role.arn,
            tags=tags,
            opts=child,
        )

        k8s_opts = pulumi.ResourceOptions(
            parent=self, provider=args.provider, depends_on=list(args.depends_on)
        )
        # CRDs from their own chart: Helm never upgrades CRDs shipped in a chart's crds/ folder.
        crds = helm_release(
            f"{name}-crd",
            release="karpenter-crd",
            chart=CRD_CHART,
            version=cfg.chart_version,
            namespace=NAMESPACE,
            opts=k8s_opts,
        )
        release = helm_release(
            name,
            release=RELEASE,
            chart=versions.KARPENTER_CHART,
            version=cfg.chart_version,
            namespace=NAMESPACE,
            skip_crds=True,
            atomic=True,
            timeout=600,
            values=pulumi.Output.all(cluster_name, queue.name).apply(
                lambda a: chart_values(
                    cluster_name=a[0],
                    queue_name=a[1],
                    region=args.region,
                    system_label=args.system_label,
                    replicas=args.system_replicas,
                )
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                depends_on=[*args.depends_on, crds, association, controller_policy, access],
            ),
        )

        objects_opts = pulumi.ResourceOptions(
            parent=self, provider=args.provider, depends_on=[release]
        )
        self.node_pools = {}
        for pool, pool_cfg in cfg.node_pools.items():
            placement = pulumi.Output.from_input(None)
            if pool_cfg.efa:
                if args.efa_zone is None or args.efa_subnet_id is None:
                    raise ValueError(
                        f"EFA pool {pool!r} needs KarpenterArgs.efa_zone and efa_subnet_id"
                    )
                # Karpenter selects the group; it does not create one.
                pg = aws.ec2.PlacementGroup(
                    f"{name}-{pool}-pg", strategy="cluster", tags=tags, opts=child
                )
                placement = pulumi.Output.all(args.efa_subnet_id, pg.name).apply(
                    lambda a: EfaPlacement(subnet_id=a[0], placement_group=a[1])
                )
            nc = pulumi.Output.all(cluster_name, node_role.name, placement).apply(
                lambda a, p=pool, pc=pool_cfg: render_ec2_node_class(
                    p,
                    pc,
                    cluster_name=a[0],
                    node_role_name=a[1],
                    ami_alias=cfg.ami_alias,
                    tags=tags,
                    placement=a[2],
                )
            )
            ec2nc = k8s.apiextensions.CustomResource(
                f"{name}-{pool}-nodeclass",
                api_version="karpenter.k8s.aws/v1",
                kind="EC2NodeClass",
                metadata={"name": pool},
                spec=nc["spec"],
                opts=objects_opts,
            )
            body = render_node_pool(pool, pool_cfg, args.efa_zone)
            self.node_pools[pool] = k8s.apiextensions.CustomResource(
                f"{name}-{pool}",
                api_version=body["apiVersion"],
                kind=body["kind"],
                metadata=body["metadata"],
                spec=body["spec"],
                opts=pulumi.ResourceOptions(
                    parent=self, provider=args.provider, depends_on=[release, ec2nc]
                ),
            )

        self.queue_name = queue.name
        self.node_role_name = node_role.name
        self.register_outputs({"queueName": self.queue_name, "nodeRoleName": self.node_role_name})
