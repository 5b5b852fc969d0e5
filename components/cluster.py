"""Cluster: EKS control plane (pulumi_eks), managed add-ons, system and GPU managed node groups."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from policies.required import IMDS_HOP_LIMIT  # the pack's value: one source of truth

from . import aws_names, node_health
from .config import ClusterConfig, NodeGroupConfig, NodeHealthConfig
from .iam import attach_managed, node_role, pod_identity_role
from .kms import rotated_key
from .scheduling import GPU_TAINT, eks_taint, node_labels

# EKS access policies are not IAM policies: their ARNs live under eks::aws:cluster-access-policy
# (EKS User Guide, "Review access policy permissions"; AssociateAccessPolicy's policyArn takes one
# of ListAccessPolicies' ARNs, botocore eks 2017-11-01 model).
ADMIN_ACCESS_POLICY = "AmazonEKSClusterAdminPolicy"
EBS_CSI_POLICY = "service-role/AmazonEBSCSIDriverPolicy"


def access_policy_arn(partition: str, policy: str) -> str:
    """The ARN of an EKS-managed access policy in `partition` (aws, aws-cn, aws-us-gov)."""
    return f"arn:{partition}:eks::aws:cluster-access-policy/{policy}"


@dataclass
class ClusterArgs:
    config: ClusterConfig
    vpc_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Input[str]]
    efa_subnet_id: pulumi.Input[str]  # the private subnet of the EFA zone (PlatformConfig.efa_zone)
    node_groups: dict[str, NodeGroupConfig]
    tags: dict[str, str] = field(default_factory=dict)
    node_health: NodeHealthConfig = field(default_factory=NodeHealthConfig)


class Cluster(pulumi.ComponentResource):
    name: str
    eks: eks.Cluster
    provider: k8s.Provider
    cluster_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]
    node_groups: dict[str, eks.ManagedNodeGroup]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("trainstack:cluster:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg = args.config
        tags = {**args.tags, **cfg.tags}
        self.name = cfg.name

        key = rotated_key(
            f"{name}-secrets",
            f"EKS secrets envelope key for {cfg.name}",
            tags,
            child,
            alias=aws_names.eks_secrets_alias(cfg.name),
        )
        # EKS writes control-plane logs to this group; created first so it has a retention.
        logs = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=aws_names.eks_log_group(cfg.name),
            retention_in_days=cfg.log_retention_days,
            tags=tags,
            opts=child,
        )

        ep = cfg.endpoint
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
        admin_policy = partition.partition.apply(
            lambda p: access_policy_arn(p, ADMIN_ACCESS_POLICY)
        )
        self.eks = eks.Cluster(
            name,
            name=cfg.name,
            version=cfg.kubernetes_version,
            vpc_id=args.vpc_id,
            private_subnet_ids=args.private_subnet_ids,
            node_associate_public_ip_address=False,
            skip_default_node_group=True,
            authentication_mode=eks.AuthenticationMode.API,
            access_entries={
                f"admin-{i}": eks.AccessEntryArgs(
                    principal_arn=arn,
                    access_policies={
                        "cluster-admin": eks.AccessPolicyAssociationArgs(
                            policy_arn=admin_policy,
                            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(
                                type="cluster"
                            ),
                        )
                    },
                )
                for i, arn in enumerate(cfg.admin_principals)
            },
            encryption_config_key_arn=key.arn,
            enabled_cluster_log_types=list(cfg.log_types),
            endpoint_private_access=True,
            endpoint_public_access=ep.public,
            public_access_cidrs=[str(c) for c in ep.public_access_cidrs] if ep.public else None,
            # Credentials come from EKS Pod Identity; no IRSA OIDC provider is needed.
            create_oidc_provider=False,
            # Managed add-ons rather than the self-managed copies EKS bootstraps. CoreDNS is
            # added below once nodes exist: a managed CoreDNS never turns ACTIVE without nodes.
            use_default_vpc_cni=False,
            # The jobs namespace's NetworkPolicies (components/network_policy.py) are enforced
            # only by the VPC CNI's network policy agent. pulumi-eks writes this flag into the
            # vpc-cni add-on's configurationValues as {"enableNetworkPolicy": "true"}
            # (nodejs/eks/addons/cni-addon.ts, mergeConfigurationValues). The add-on's version
            # is pinned (versions.VPC_CNI_ADDON_VERSION): unset, pulumi-eks takes the newest.
            vpc_cni_options=eks.VpcCniOptionsArgs(
                enable_network_policy=True, addon_version=cfg.vpc_cni_addon_version
            ),
            coredns_addon_options=eks.CoreDnsAddonOptionsArgs(enabled=False),
            kube_proxy_addon_options=eks.KubeProxyAddonOptionsArgs(enabled=True),
            tags=tags,
            cluster_tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs]),
        )
        self.cluster_name = self.eks.eks_cluster.name
        self.cluster_security_group_id = self.eks.eks_cluster.vpc_config.cluster_security_group_id
        self.kubeconfig = pulumi.Output.secret(self.eks.kubeconfig_json)

        addon_opts = pulumi.ResourceOptions(parent=self, depends_on=[self.eks])
        self.pod_identity_agent = aws.eks.Addon(
            f"{name}-pod-identity-agent",
            cluster_name=self.cluster_name,
            addon_name="eks-pod-identity-agent",
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=tags,
            opts=addon_opts,
        )
        ebs_role = pod_identity_role(f"{name}-ebs-csi", child, tags)
        attach_managed(ebs_role, f"{name}-ebs-csi", (EBS_CSI_POLICY,), child)

        self.provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=self.kubeconfig, enable_server_side_apply=True, opts=child
        )

        self.node_groups = {}
        # The GPU groups' node roles: what pulls the engine image (engine_image.py).
        self.gpu_node_role_arns: list[pulumi.Output[str]] = []
        system_groups = []
        for group_name, group in args.node_groups.items():
            ng = self._node_group(name, group_name, group, args, tags)
            self.node_groups[group_name] = ng
            if group.role == "system":
                system_groups.append(ng)
        # Deployments turn ACTIVE only with a node to run on: add them after the system group.
        after_nodes = pulumi.ResourceOptions(parent=self, depends_on=system_groups)
        aws.eks.Addon(
            f"{name}-coredns",
            cluster_name=self.cluster_name,
            addon_name="coredns",
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=tags,
            opts=after_nodes,
        )
        aws.eks.Addon(
            f"{name}-ebs-csi",
            cluster_name=self.cluster_name,
            addon_name="aws-ebs-csi-driver",
            pod_identity_associations=[
                aws.eks.AddonPodIdentityAssociationArgs(
                    role_arn=ebs_role.arn, service_account="ebs-csi-controller-sa"
                )
            ],
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=tags,
            opts=after_nodes,
        )
        self.system_node_groups = system_groups
        # The node monitoring agent (node_health.py): after the system nodes, like the others.
        self.node_monitoring_agent = None
        if args.node_health.monitoring_agent:
            self.node_monitoring_agent = node_health.monitoring_agent(
                f"{name}-node-monitoring-agent",
                self.cluster_name,
                args.node_health.agent_version,
                tags,
                after_nodes,
            )

        self.register_outputs({"clusterName": self.cluster_name, "kubeconfig": self.kubeconfig})

    def _node_group(
        self,
        name: str,
        group_name: str,
        group: NodeGroupConfig,
        args: ClusterArgs,
        tags: dict[str, str],
    ) -> eks.ManagedNodeGroup:
        """One managed node group with its own launch template (IMDSv2, encrypted gp3, EFA)."""
        child = pulumi.ResourceOptions(parent=self)
        gpu = group.role == "gpu"
        efa = gpu and group.efa
        res = f"{name}-{group_name}"
        role = node_role(f"{res}-node", child, tags)
        if gpu:
            self.gpu_node_role_arns.append(role.arn)
        labels = node_labels(group_name, group, gpu=gpu, efa=efa)

        subnets = args.private_subnet_ids
        network_interfaces = None
        placement = None
        if efa:
            # EFA needs every node in one cluster placement group, so one zone, and a security
            # group that passes all traffic between its members.
            pg = aws.ec2.PlacementGroup(f"{res}-pg", strategy="cluster", tags=tags, opts=child)
            placement = aws.ec2.LaunchTemplatePlacementArgs(group_name=pg.name)
            subnets = [args.efa_subnet_id]
            efa_sg = aws.ec2.SecurityGroup(
                f"{res}-efa",
                vpc_id=args.vpc_id,
                description=f"EFA traffic within {group_name}",
                ingress=[
                    aws.ec2.SecurityGroupIngressArgs(
                        protocol="-1", from_port=0, to_port=0, self=True
                    )
                ],
                egress=[
                    aws.ec2.SecurityGroupEgressArgs(
                        protocol="-1", from_port=0, to_port=0, self=True
                    ),
                    aws.ec2.SecurityGroupEgressArgs(
                        protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"]
                    ),
                ],
                tags={**tags, "Name": f"{args.config.name}-{group_name}-efa"},
                opts=child,
            )
            cards = min(i.efa_interfaces for i in group.facts(group_name).instances)
            network_interfaces = [
                aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                    device_index=0 if card == 0 else 1,
                    network_card_index=card,
                    interface_type="efa" if card == 0 else "efa-only",
                    security_groups=[self.cluster_security_group_id, efa_sg.id],
                    delete_on_termination="true",
                )
                for card in range(cards)
            ]

        lt = aws.ec2.LaunchTemplate(
            f"{res}-lt",
            description=f"trainstack {group_name} nodes",
            update_default_version=True,
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=IMDS_HOP_LIMIT,
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=group.disk_size_gib,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            network_interfaces=network_interfaces,
            placement=placement,
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(
                    resource_type=kind, tags={**tags, "Name": f"{args.config.name}-{group_name}"}
                )
                for kind in ("instance", "volume")
            ],
            tags=tags,
            opts=child,
        )

        return eks.ManagedNodeGroup(
            res,
            cluster=self.eks,
            # A prefix, not a fixed name: changing instance types replaces the group, and the
            # replacement is created before the old one is deleted.
            node_group_name_prefix=aws_names.node_group_prefix(args.config.name, group_name),
            node_role=role,
            version=args.config.kubernetes_version,
            ami_type="AL2023_x86_64_NVIDIA" if gpu else "AL2023_x86_64_STANDARD",
            instance_types=list(group.instance_types),
            capacity_type=group.capacity_type,
            subnet_ids=subnets,
            # Fixed capacity sized from config: min, desired and max are all declared, so editing
            # desiredSize (default minSize) and running `pulumi up` resizes the group. No
            # autoscaler runs on managed groups (Karpenter scales the pools), so nothing else
            # owns the desired count and Pulumi must not ignore it.
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=group.min_size, desired_size=group.desired, max_size=group.max_size
            ),
            labels=labels,
            taints=[eks_taint(GPU_TAINT)] if gpu else None,
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=lt.id, version=lt.latest_version.apply(str)
            ),
            tags=tags,
            # GPU groups: EKS node auto repair on the agent's conditions (nodeHealth.autoRepair).
            opts=pulumi.ResourceOptions(
                parent=self,
                transforms=[node_health.node_repair(args.node_health.auto_repair)] if gpu else None,
            ),
        )
