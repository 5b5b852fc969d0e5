"""Observability: the Amazon CloudWatch Observability EKS add-on, which runs the CloudWatch agent
on every node (Container Insights with enhanced observability: node, pod and container figures,
and with accelerated compute on, GPU figures from the DCGM exporter it deploys on GPU nodes and EFA
counters), plus the endpoint the trainer sends its own figures to (trainer/cloudwatch_emf.py).

The agent gets AWS credentials through EKS Pod Identity, with a role that may write to this
cluster's Container Insights log groups and describe the instance's tags and volumes, nothing
else. The stack creates those log groups itself, with a retention, so the agent needs no
logs:CreateLogGroup (and cannot leave a never-expiring group behind).

Every configuration key set here is checked against the chart the pinned add-on packages and the
agent that chart runs (tests/components/test_observability.py names the files and tags).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from trainer import cloudwatch_emf

from . import aws_names
from . import runtime_contract as rc
from .config import ObservabilityConfig
from .config.observability import NAMESPACE
from .iam import pod_identity_role
from .scheduling import gpu_node_affinity

ADDON_NAME = "amazon-cloudwatch-observability"
# The chart's first entry of `agents` (values.yaml): the DaemonSet's name, and the default of its
# ServiceAccount (templates/_helpers.tpl cloudwatch-agent.serviceAccountName) and of the Service
# the agent operator makes for it (operator v3.6.0 internal/naming/main.go Service).
AGENT = "cloudwatch-agent"
SERVICE_ACCOUNT = AGENT
# The agent's EMF listener (agent v1.300070.0 translator/translate/otel/receiver/tcplog: default
# 0.0.0.0:25888), and the port the operator opens on the Service for an `emf` section (operator
# v3.6.0 internal/manifests/collector/ports.go, EMF: 25888).
EMF_PORT = 25888
# The Service's selector (operator v3.6.0 internal/manifests/manifestutils/labels.go
# SelectorLabels: instance "<namespace>.<name>", component collector.go
# ComponentAmazonCloudWatchAgent). A DaemonSet's Service has internalTrafficPolicy Local
# (internal/manifests/collector/service.go), so a connection stays on the pod's own node.
AGENT_SELECTOR = {
    "app.kubernetes.io/instance": f"{NAMESPACE}.{AGENT}",
    "app.kubernetes.io/component": "amazon-cloudwatch-agent",
}
# Where enhanced Container Insights writes (agent v1.300070.0: awsemf log_group_name
# /aws/containerinsights/{ClusterName}/performance), the trainer's group, and Fluent Bit's groups
# (chart 6.4.0 values.yaml containerLogs.fluentBit.config: application, dataplane, host).
PERFORMANCE = "performance"
TRAINING = "training"
CONTAINER_LOGS = ("application", "dataplane", "host")


def log_group_kinds(cfg: ObservabilityConfig) -> tuple[str, ...]:
    return (PERFORMANCE, TRAINING, *(CONTAINER_LOGS if cfg.container_logs else ()))


def emf_endpoint() -> str:
    return f"tcp://{AGENT}.{NAMESPACE}:{EMF_PORT}"


def trainer_env(cluster: str) -> dict[str, str]:
    """What a job's containers get so the trainer sends its figures to the agent."""
    return {
        cloudwatch_emf.ENV_ENDPOINT: emf_endpoint(),
        cloudwatch_emf.ENV_CLUSTER: cluster,
        cloudwatch_emf.ENV_LOG_GROUP: aws_names.container_insights_log_group(cluster, TRAINING),
    }


def agent_peer() -> rc.Peer:
    """The agent's EMF port, as a job's pods call it: through the Service, which the VPC CNI's
    policy controller resolves to its ClusterIP for a rule whose selectors match the Service's
    (amazon-network-policy-controller-k8s v1.1.7 pkg/resolvers/endpoints.go
    getMatchingServiceClusterIPs); the agent pods themselves are hostNetwork."""
    return rc.Peer(
        "CloudWatch agent (EMF)", (rc.Port(EMF_PORT),), pods=AGENT_SELECTOR, namespace=NAMESPACE
    )


def agent_config() -> dict[str, Any]:
    """The agent's JSON configuration (it replaces the chart's default, which would also turn on
    Application Signals; the chart adds cluster_name and region): enhanced Container Insights
    with accelerated compute (GPU through DCGM, Neuron, EFA) and the EMF listener on TCP only."""
    return {
        "logs": {
            "metrics_collected": {
                "kubernetes": {
                    "enhanced_container_insights": True,
                    "accelerated_compute_metrics": True,
                },
                "emf": {"service_address": f"tcp:0.0.0.0:{EMF_PORT}"},
            }
        }
    }


def addon_values(cfg: ObservabilityConfig) -> dict[str, Any]:
    """The add-on's configurationValues: the chart's values.yaml keys at the pinned version."""
    return {
        "agent": {"config": agent_config()},
        "containerLogs": {"enabled": cfg.container_logs},
        # The chart's own default, pinned: GPU nodes carry nvidia.com/gpu:NoSchedule
        # (scheduling.GPU_TAINT), and a node agent belongs on every node, tainted or not.
        "tolerations": [{"operator": "Exists"}],
        # DCGM exporter on the nodes the stack labels as GPU nodes, instead of the chart's list of
        # instance types, which lacks some the stack may launch (p5.4xlarge in 6.4.0).
        "dcgmExporter": {"affinity": gpu_node_affinity()},
    }


def render_agent_policy(log_group_arns: list[str]) -> dict[str, Any]:
    """What the agent (and Fluent Bit, under the same ServiceAccount) calls, and nothing else.

    - logs:PutLogEvents, logs:CreateLogStream on the stack's Container Insights groups: the
      agent's pusher writes, and makes a stream on ResourceNotFound (amazon-contributing
      opentelemetry-collector-contrib internal/aws/cwlogs/cwlog_client.go); it would create a
      missing group too, which the stack does instead.
    - ec2:DescribeTags and ec2:DescribeVolumes on "*" (neither takes a resource ARN): the
      Container Insights receiver reads its instance's tags and maps its EBS volumes
      (receiver/awscontainerinsightreceiver/internal/host/ec2tags.go, ebsvolume.go).

    Not the managed CloudWatchAgentServerPolicy: it adds cloudwatch:PutMetricData (every metric
    here is extracted from EMF logs; the config has no `metrics` section), logs:CreateLogGroup,
    PutRetentionPolicy and Describe* on every group, X-Ray and SSM parameter reads.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteContainerInsightsLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [r for arn in log_group_arns for r in (arn, f"{arn}:*")],
            },
            {
                "Sid": "DescribeOwnInstance",
                "Effect": "Allow",
                "Action": ["ec2:DescribeTags", "ec2:DescribeVolumes"],
                "Resource": "*",
            },
        ],
    }


@dataclass
class ObservabilityArgs:
    config: ObservabilityConfig
    cluster: str  # the cluster's name from config: the log groups' names
    cluster_name: pulumi.Input[str]  # the EKS cluster's, once it exists
    log_retention_days: int
    # The system nodes (the operator's Deployment needs one to turn ACTIVE) and the Pod
    # Identity agent.
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


class Observability(pulumi.ComponentResource):
    addon: aws.eks.Addon

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("trainstack:observability:Observability", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg = args.config
        groups = [
            aws.cloudwatch.LogGroup(
                f"{name}-{kind}",
                name=aws_names.container_insights_log_group(args.cluster, kind),
                retention_in_days=args.log_retention_days,
                tags=args.tags,
                opts=child,
            )
            for kind in log_group_kinds(cfg)
        ]
        role = pod_identity_role(f"{name}-agent", child, args.tags)
        policy = aws.iam.RolePolicy(
            f"{name}-agent",
            role=role.id,
            policy=pulumi.Output.all(*[g.arn for g in groups]).apply(
                lambda arns: json.dumps(render_agent_policy(list(arns)))
            ),
            opts=child,
        )
        self.addon = aws.eks.Addon(
            f"{name}-addon",
            cluster_name=args.cluster_name,
            addon_name=ADDON_NAME,
            addon_version=cfg.addon_version,
            configuration_values=json.dumps(addon_values(cfg), sort_keys=True),
            pod_identity_associations=[
                aws.eks.AddonPodIdentityAssociationArgs(
                    role_arn=role.arn, service_account=SERVICE_ACCOUNT
                )
            ],
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=args.tags,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*args.depends_on, *groups, policy]
            ),
        )
        self.register_outputs(
            {"addon": ADDON_NAME, "addonVersion": cfg.addon_version, "emfEndpoint": emf_endpoint()}
        )
