"""Notifications: an SNS topic that hears when a trainer image build ends (an EventBridge rule
on CodeBuild's Build State Change events of this stack's project) and when a training job
succeeds, fails or restarts (the in-cluster watcher, jobwatch/, with the classifier's cause).

The topic is the stack's own, under its own rotated KMS key whose policy lets EventBridge use it
for this stack's rule only, or an existing one (`notifications.topicArn`): the stack then cannot
change that topic's policies, and its owner must allow what docs/config.md lists. Email
subscriptions stay pending until each address confirms the message SNS sends it.

The documents are pure functions in notification_policies.py, the watcher's Kubernetes objects
in jobwatch_manifests.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from . import jobwatch_manifests as manifests
from . import runtime_contract as rc
from .config import PROJECT
from .config.notifications import NotificationsConfig
from .iam import pod_identity_role
from .kms import rotated_key
from .network_policy import render_contract
from .notification_policies import (
    BUILD_INPUT_PATHS,
    build_event_pattern,
    build_input_template,
    render_key_policy,
    render_topic_policy,
    render_watcher_policy,
)


@dataclass
class NotificationsArgs:
    config: NotificationsConfig
    cluster: str  # the configured cluster name (resource names derive from it)
    cluster_name: pulumi.Input[str]  # the EKS cluster's name output
    namespace: str  # the jobs namespace
    image: pulumi.Input[str]  # the trainer image, which ships the watcher
    build_project: pulumi.Input[str] | None  # the CodeBuild project; None: no build messages
    provider: k8s.Provider
    system_label: tuple[str, str]
    vpc_cidr: str
    # The VPC CIDR to keep out of HTTPS egress; None when interface endpoints live in it.
    https_except_vpc: str | None
    # The fleet figures and idle-GPU alarm (jobwatch/fleet.py); None: the watcher runs neither.
    fleet: manifests.FleetEnv | None = None
    # The jobs namespace and the Pod Identity agent must exist first.
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    node_repair: bool = True  # nodeHealth.autoRepair, which the GPU-fault alarm names


class Notifications(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]
    # What an existing topic's owner grants access to (notification_policies.existing_topic_grants)
    build_rule_arn: pulumi.Output[str] | None = None
    watcher_role_arn: pulumi.Output[str] | None = None

    def __init__(
        self, name: str, args: NotificationsArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(f"{PROJECT}:notifications:Notifications", name, None, opts)
        cfg, tags = args.config, args.tags
        child = pulumi.ResourceOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))

        rule = None
        if cfg.image_builds and args.build_project is not None:
            rule = aws.cloudwatch.EventRule(
                f"{name}-builds",
                description=f"{args.cluster}: trainer image builds that end",
                event_pattern=pulumi.Output.from_input(args.build_project).apply(
                    lambda p: json.dumps(build_event_pattern(p))
                ),
                tags=tags,
                opts=child,
            )
        rule_arns = pulumi.Output.all(*([rule.arn] if rule else []))

        key_arn: pulumi.Input[str] | None = cfg.topic_kms_key_arn
        if cfg.topic_arn:
            topic_arn: pulumi.Input[str] = cfg.topic_arn
        else:
            key = rotated_key(
                f"{name}-key",
                f"{args.cluster}: notifications topic",
                tags,
                child,
                policy=pulumi.Output.all(identity.account_id, partition.partition, rule_arns).apply(
                    lambda a: json.dumps(render_key_policy(a[0], a[1], list(a[2])))
                ),
            )
            topic = aws.sns.Topic(
                f"{name}-topic",
                name=f"{args.cluster}-notifications",
                kms_master_key_id=key.arn,
                tags=tags,
                opts=child,
            )
            aws.sns.TopicPolicy(
                f"{name}-topic",
                arn=topic.arn,
                policy=pulumi.Output.all(topic.arn, identity.account_id, rule_arns).apply(
                    lambda a: json.dumps(render_topic_policy(a[0], a[1], list(a[2])))
                ),
                opts=child,
            )
            topic_arn, key_arn = topic.arn, key.arn
        for n, email in enumerate(cfg.emails):
            aws.sns.TopicSubscription(
                f"{name}-email-{n}", topic=topic_arn, protocol="email", endpoint=email, opts=child
            )
        if rule is not None:
            self.build_rule_arn = rule.arn
            aws.cloudwatch.EventTarget(
                f"{name}-builds",
                rule=rule.name,
                arn=topic_arn,
                input_transformer={
                    "input_paths": BUILD_INPUT_PATHS,
                    "input_template": build_input_template(),
                },
                opts=child,
            )
        if cfg.training_jobs:
            self._watcher(name, args, topic_arn, key_arn)
        self.topic_arn = pulumi.Output.from_input(topic_arn)
        self.register_outputs(
            {
                "topicArn": self.topic_arn,
                "buildRuleArn": self.build_rule_arn,
                "watcherRoleArn": self.watcher_role_arn,
            }
        )

    def _watcher(self, name, args: NotificationsArgs, topic_arn, key_arn) -> None:
        """The watcher's identity, RBAC, record and NetworkPolicy, then its Deployment, which
        waits for every one of them (its contract's needs): a pod admitted before its Pod
        Identity association exists never gets credentials."""
        child = pulumi.ResourceOptions(parent=self)
        contract = manifests.contract(args.vpc_cidr, args.https_except_vpc)
        role = pod_identity_role(f"{name}-watcher", child, args.tags)
        self.watcher_role_arn = role.arn
        policy = aws.iam.RolePolicy(
            f"{name}-watcher",
            role=role.id,
            policy=pulumi.Output.all(topic_arn, key_arn).apply(
                lambda a: json.dumps(render_watcher_policy(contract.aws_access, a[0], a[1]))
            ),
            opts=child,
        )
        association = aws.eks.PodIdentityAssociation(
            f"{name}-watcher",
            cluster_name=args.cluster_name,
            namespace=args.namespace,
            service_account=manifests.NAME,
            role_arn=role.arn,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, *args.depends_on]),
        )
        k8s_opts = pulumi.ResourceOptions(
            parent=self, provider=args.provider, depends_on=args.depends_on
        )
        ns = args.namespace
        meta = manifests.render_service_account(manifests.NAME, ns)
        made: dict[str, object] = {rc.identity_need(manifests.NAME): association}
        made[rc.service_account_need(manifests.NAME)] = k8s.core.v1.ServiceAccount(
            f"{name}-watcher",
            metadata=meta["metadata"],
            automount_service_account_token=meta["automountServiceAccountToken"],
            opts=k8s_opts,
        )
        role_m = rc.render_role(contract, ns, manifests.LABELS)
        binding = rc.render_role_binding(contract, ns, manifests.LABELS)
        cluster_role = manifests.render_cluster_role()
        cluster_binding = manifests.render_cluster_role_binding(ns)
        made[rc.rbac_need(contract.name)] = [
            k8s.rbac.v1.Role(
                f"{name}-watcher", metadata=role_m["metadata"], rules=role_m["rules"], opts=k8s_opts
            ),
            k8s.rbac.v1.RoleBinding(
                f"{name}-watcher",
                metadata=binding["metadata"],
                role_ref=binding["roleRef"],
                subjects=binding["subjects"],
                opts=k8s_opts,
            ),
            # Nodes and their events are cluster-scoped: the GPU-fault alarm and the classifier
            # read them through a ClusterRole (jobwatch_manifests.CLUSTER_RULES).
            k8s.rbac.v1.ClusterRole(
                f"{name}-watcher",
                metadata=cluster_role["metadata"],
                rules=cluster_role["rules"],
                opts=k8s_opts,
            ),
            k8s.rbac.v1.ClusterRoleBinding(
                f"{name}-watcher",
                metadata=cluster_binding["metadata"],
                role_ref=cluster_binding["roleRef"],
                subjects=cluster_binding["subjects"],
                opts=k8s_opts,
            ),
        ]
        # The watcher writes its record into the data; `up` must not wipe it.
        made[rc.configmap_need(manifests.CONFIGMAP)] = k8s.core.v1.ConfigMap(
            f"{name}-watcher",
            metadata=manifests.render_configmap(ns)["metadata"],
            opts=pulumi.ResourceOptions.merge(
                k8s_opts, pulumi.ResourceOptions(ignore_changes=["data"])
            ),
        )
        netpol = render_contract(contract, ns)
        made[rc.network_policy_need(contract.name)] = k8s.networking.v1.NetworkPolicy(
            f"{name}-watcher", metadata=netpol["metadata"], spec=netpol["spec"], opts=k8s_opts
        )
        deployment = pulumi.Output.all(args.image, topic_arn, association.id).apply(
            lambda a: manifests.render_deployment(
                ns,
                a[0],
                a[1],
                args.system_label,
                a[2],
                args.config.alarms,
                args.node_repair,
                args.fleet,
            )
        )
        k8s.apps.v1.Deployment(
            f"{name}-watcher",
            metadata=manifests.metadata(manifests.NAME, ns),
            spec=deployment.apply(lambda d: d["spec"]),
            opts=pulumi.ResourceOptions.merge(
                k8s_opts,
                pulumi.ResourceOptions(depends_on=rc.prerequisites([contract], made)),
            ),
        )
