"""Karpenter: controller IAM via Pod Identity, interruption queue, chart, EC2NodeClasses, NodePools.

The Kubernetes objects and policy documents are produced by pure `render_*` functions so they can
be validated against the upstream CRDs and IAM definitions without a cluster: NodePools and
EC2NodeClasses in components/karpenter_nodes.py, the controller and queue policies in
components/karpenter_iam.py. This module creates the resources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from . import aws_names, versions
from .charts import helm_release
from .config import KarpenterConfig
from .iam import node_role as make_node_role
from .iam import pod_identity_role

# The renderers live in their own modules; callers and tests keep reaching them through this one.
from .karpenter_iam import render_controller_policy, render_queue_policy
from .karpenter_nodes import (  # noqa: F401
    DISCOVERY_TAG,
    IMDS_HOP_LIMIT,
    ZONE_LABEL,
    EfaPlacement,
    render_ec2_node_class,
    render_node_pool,
)

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "karpenter"
RELEASE = "karpenter"
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


def chart_values(
    *,
    cluster_name: str,
    queue_name: str,
    region: str,
    system_label: tuple[str, str],
    replicas: int,
    node_repair: bool = True,
) -> dict[str, Any]:
    key, value = system_label
    return {
        "settings": {
            "clusterName": cluster_name,
            "interruptionQueue": queue_name,
            # Node repair (alpha in v1.14.1, off by default: charts/karpenter/values.yaml
            # settings.featureGates.nodeRepair, passed to the controller as FEATURE_GATES
            # NodeRepair= by templates/deployment.yaml). It replaces a node whose kubelet or
            # node monitoring agent conditions stay unhealthy (pkg/cloudprovider/cloudprovider.go
            # RepairPolicies; docs/operations.md). Helm merges this map into the chart's, so the
            # other gates keep their defaults.
            "featureGates": {"nodeRepair": node_repair},
        },
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
    node_repair: bool = True  # nodeHealth.autoRepair: the NodeRepair feature gate


class Karpenter(pulumi.ComponentResource):
    queue_name: pulumi.Output[str]
    node_role_name: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
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
        rules = []
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
            rules.append(rule.arn)
        aws.sqs.QueuePolicy(
            f"{name}-interruptions",
            queue_url=queue.url,
            policy=pulumi.Output.all(queue.arn, *rules).apply(
                lambda a: json.dumps(render_queue_policy(a[0], list(a[1:])))
            ),
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
                    node_repair=args.node_repair,
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
        self.node_role_arn = node_role.arn
        self.register_outputs({"queueName": self.queue_name, "nodeRoleName": self.node_role_name})
