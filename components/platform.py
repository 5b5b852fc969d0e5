"""Platform: the root component wiring network, cluster, Karpenter, GPU plugins and operators."""

from __future__ import annotations

import pulumi

from . import runtime_contract as rc
from .artifacts import Artifacts, ArtifactsArgs
from .cluster import Cluster, ClusterArgs
from .config import PlatformConfig
from .dashboard import Dashboard, DashboardArgs
from .dashboard_body import spec_of
from .engine_image import EngineImage, EngineImageArgs
from .fsx import ArtifactsRef
from .gpu import GpuPlugins, GpuPluginsArgs
from .image import TrainerImage, TrainerImageArgs
from .jobwatch_manifests import FleetEnv
from .karpenter import Karpenter, KarpenterArgs
from .kueue import Kueue, KueueArgs
from .network import Network, NetworkArgs
from .notifications import Notifications, NotificationsArgs
from .observability import Observability, ObservabilityArgs
from .operators import Operators, OperatorsArgs
from .queueing import queued
from .scheduling import SYSTEM_LABEL
from .storage import CheckpointStorage, CheckpointStorageArgs
from .workloads import Workloads, WorkloadsArgs, serving_service_account, stack_contracts


def _secret(value) -> pulumi.Output[str] | None:
    """A config secret as a secret Output: masked in state, logs and previews."""
    return None if value is None else pulumi.Output.secret(value.get_secret_value())


class Platform(pulumi.ComponentResource):
    def __init__(
        self, name: str, config: PlatformConfig, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("trainstack:platform:Platform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg = config
        tags = {"trainstack.io/cluster": cfg.cluster.name, "managed-by": "pulumi", **cfg.tags}
        zones = list(cfg.zones())

        self.network = Network(
            f"{name}-net",
            NetworkArgs(
                config=cfg.network,
                cluster_name=cfg.cluster.name,
                zones=zones,
                region=cfg.region,
                tags=tags,
            ),
            child,
        )
        # EFA node groups and EFA NodePools share one zone and its private subnet.
        efa_subnet_id = self.network.private_subnet_ids[zones.index(cfg.efa_zone)]
        self.cluster = Cluster(
            f"{name}-eks",
            ClusterArgs(
                config=cfg.cluster,
                vpc_id=self.network.vpc_id,
                private_subnet_ids=self.network.private_subnet_ids,
                efa_subnet_id=efa_subnet_id,
                node_groups=dict(cfg.node_groups),
                tags=tags,
                node_health=cfg.node_health,
            ),
            child,
        )

        system_label = (SYSTEM_LABEL, "true")
        system_nodes = list(self.cluster.system_node_groups)
        _, system = cfg.system_group
        if cfg.karpenter.enabled:
            self.karpenter = Karpenter(
                f"{name}-karpenter",
                KarpenterArgs(
                    config=cfg.karpenter,
                    cluster_name=self.cluster.cluster_name,
                    cluster_security_group_id=self.cluster.cluster_security_group_id,
                    region=cfg.region,
                    provider=self.cluster.provider,
                    system_label=system_label,
                    # Two replicas need two system nodes (the chart spreads them by host).
                    system_replicas=2 if system.min_size >= 2 else 1,
                    efa_zone=cfg.efa_zone,
                    efa_subnet_id=efa_subnet_id,
                    # Its pods get AWS credentials through the Pod Identity agent.
                    depends_on=[*system_nodes, self.cluster.pod_identity_agent],
                    tags=tags,
                    node_repair=cfg.node_health.auto_repair,
                ),
                child,
            )
        self.gpu = GpuPlugins(
            f"{name}-gpu",
            GpuPluginsArgs(
                config=cfg.addons,
                provider=self.cluster.provider,
                efa_in_use=cfg.efa_in_use,
                depends_on=system_nodes,
            ),
            child,
        )
        self.operators = Operators(
            f"{name}-operators",
            OperatorsArgs(
                config=cfg.addons,
                provider=self.cluster.provider,
                system_label=system_label,
                depends_on=system_nodes,
                kubeflow_trainer=cfg.kubeflow_trainer_installed,
            ),
            child,
        )

        # Kueue and the cluster-wide queue objects (components/kueue.py); every job goes through it.
        self.kueue = None
        if queued(cfg):
            self.kueue = Kueue(
                f"{name}-kueue",
                KueueArgs(
                    config=cfg,
                    provider=self.cluster.provider,
                    system_label=system_label,
                    depends_on=system_nodes,
                ),
                child,
            )

        # The CloudWatch agent on every node, and the endpoint the jobs send their figures to.
        self.observability = None
        if cfg.observability.enabled:
            self.observability = Observability(
                f"{name}-observability",
                ObservabilityArgs(
                    config=cfg.observability,
                    cluster=cfg.cluster.name,
                    cluster_name=self.cluster.cluster_name,
                    log_retention_days=cfg.cluster.log_retention_days,
                    depends_on=[*system_nodes, self.cluster.pod_identity_agent],
                    tags=tags,
                ),
                child,
            )

        self.artifacts = None
        contracts = stack_contracts(cfg).every() if cfg.image.enabled else []
        if cfg.artifacts.enabled:
            serving_account = serving_service_account(cfg)
            self.artifacts = Artifacts(
                f"{name}-artifacts",
                ArtifactsArgs(
                    config=cfg.artifacts,
                    cluster=cfg.cluster.name,
                    cluster_name=self.cluster.cluster_name,
                    namespace=cfg.jobs_namespace,
                    # The workloads exist with the image they run (below).
                    access=rc.identity_access(contracts, cfg.artifacts.service_account),
                    serving_service_account=serving_account,
                    serving_access=rc.identity_access(contracts, serving_account or ""),
                    depends_on=[self.cluster.pod_identity_agent],
                    tags=tags,
                ),
                child,
            )

        self.engine = None
        if cfg.image.enabled and any(s.image is None for s in cfg.serving_jobs.values()):
            # The pinned vLLM image, pulled through ECR by the GPU nodes.
            roles = list(self.cluster.gpu_node_role_arns)
            if cfg.karpenter.enabled:
                roles.append(self.karpenter.node_role_arn)
            self.engine = EngineImage(
                f"{name}-engine",
                EngineImageArgs(
                    cluster=cfg.cluster.name,
                    node_role_arns=roles,
                    docker_hub_user=cfg.docker_hub_user,
                    docker_hub_token=_secret(cfg.docker_hub_token),
                    tags=tags,
                ),
                child,
            )

        self.image = self.workloads = None
        if cfg.image.enabled:
            self.image = TrainerImage(
                f"{name}-image",
                TrainerImageArgs(
                    config=cfg.image, cluster_name=cfg.cluster.name, region=cfg.region, tags=tags
                ),
                child,
            )
            storage = CheckpointStorage(
                f"{name}-storage",
                CheckpointStorageArgs(
                    volumes=cfg.volumes,
                    cluster_name=self.cluster.cluster_name,
                    vpc_id=self.network.vpc_id,
                    vpc_cidr=str(cfg.network.cidr),
                    private_subnet_ids=self.network.private_subnet_ids,
                    provider=self.cluster.provider,
                    depends_on=system_nodes,
                    tags=tags,
                    cluster=cfg.cluster.name,
                    namespace=cfg.jobs_namespace,
                    # FSx for Lustre is single-AZ: each file system in its jobs' zone.
                    volume_subnets={
                        n: self.network.private_subnet_ids[zones.index(cfg.volume_zone(n))]
                        for n in cfg.volumes
                    },
                    node_security_group_id=self.cluster.cluster_security_group_id,
                    artifacts=ArtifactsRef(
                        self.artifacts.bucket, self.artifacts.bucket_arn, self.artifacts.key_arn
                    )
                    if self.artifacts
                    else None,
                    prepare_image=self.image.image,
                ),
                child,
            )
            # Jobs need the operators' CRDs, the device plugins, the pools and the volumes'
            # StorageClasses to exist first.
            ready = [self.operators, self.gpu, storage, *system_nodes]
            if cfg.karpenter.enabled:
                ready.append(self.karpenter)
            if self.kueue is not None:  # its webhooks admit every job and queue object
                ready.append(self.kueue)
            self.workloads = Workloads(
                f"{name}-jobs",
                WorkloadsArgs(
                    config=cfg,
                    image=self.image.image,
                    provider=self.cluster.provider,
                    depends_on=ready,
                    hf_token=_secret(cfg.hf_token),
                    wandb_api_key=_secret(cfg.wandb_api_key),
                    artifacts_bucket=self.artifacts.bucket if self.artifacts else None,
                    identity=self.artifacts.association if self.artifacts else None,
                    ssh_keys=_secret(cfg.dev_pod_ssh_keys),
                    engine_image=self.engine.image if self.engine else None,
                    engine=self.engine,
                    serving_identity=self.artifacts.serving_association if self.artifacts else None,
                ),
                child,
            )

        self.notifications = None
        if cfg.notifications.enabled and self.image is not None and self.workloads is not None:
            self.notifications = Notifications(
                f"{name}-notifications",
                NotificationsArgs(
                    config=cfg.notifications,
                    cluster=cfg.cluster.name,
                    cluster_name=self.cluster.cluster_name,
                    namespace=cfg.jobs_namespace,
                    image=self.image.image,
                    build_project=self.image.project_name,
                    provider=self.cluster.provider,
                    system_label=system_label,
                    vpc_cidr=str(cfg.network.cidr),
                    https_except_vpc=cfg.https_except_vpc(),
                    # The fleet figures feed the dashboard and the idle-GPU alarm reads the
                    # collector's GPU figures: both only with observability on.
                    fleet=(
                        FleetEnv(cfg.cluster.name, cfg.region, cfg.capacity_types_by_pool())
                        if cfg.observability.enabled
                        else None
                    ),
                    depends_on=[self.workloads, self.cluster.pod_identity_agent],
                    tags=tags,
                    node_repair=cfg.node_health.auto_repair,
                ),
                child,
            )

        # The dashboard (components/dashboard.py): GPU, EFA and the trainer's figures from the
        # collector, so only with it; its fleet panels ($/h, nodes by pool) need the watcher above.
        self.dashboard = None
        if cfg.observability.enabled:
            self.dashboard = Dashboard(f"{name}-dashboard", DashboardArgs(spec_of(cfg)), child)

        self.outputs = {
            "clusterName": self.cluster.cluster_name,
            "kubeconfig": self.cluster.kubeconfig,
            "region": cfg.region,
            "vpcId": self.network.vpc_id,
            "nodeGroups": {
                n: {
                    "instanceTypes": g.instance_types,
                    "minSize": g.min_size,
                    "desiredSize": g.desired,
                    "maxSize": g.max_size,
                    "efa": g.efa,
                }
                for n, g in cfg.gpu_groups.items()
            },
            "nodePools": {
                n: {"maxGpus": p.max_gpus, "maxNodes": p.max_nodes, "efa": p.efa}
                for n, p in cfg.node_pools.items()
            },
            "gpuCeiling": cfg.gpu_ceiling(),
            "interruptionQueue": self.karpenter.queue_name if cfg.karpenter.enabled else None,
            "trainerImage": self.image.image if self.image else None,
            "imageBuildProject": self.image.project_name if self.image else None,
            "artifactsBucket": self.artifacts.bucket if self.artifacts else None,
            "notificationsTopic": self.notifications.topic_arn if self.notifications else None,
            # For the owner of an existing topic (docs/config.md): the principals to allow.
            "notificationsBuildRule": self.notifications.build_rule_arn
            if self.notifications
            else None,
            "notificationsWatcherRole": self.notifications.watcher_role_arn
            if self.notifications
            else None,
            "jobsNamespace": cfg.jobs_namespace,
            "trainingJobs": sorted(cfg.training_jobs),
            "servingJobs": sorted(cfg.serving_jobs),
            "engineImage": self.engine.image if self.engine else None,
            "dashboardName": self.dashboard.dashboard_name,
        }
        self.register_outputs(self.outputs)
