"""Typed stack config: `Pulumi.<stack>.yaml` -> validated `PlatformConfig`, before any resource.

Keys are camelCase as in the stack file; unknown keys are errors. Every problem is reported as
one line naming the key path (`trainstack:nodeGroups.gpu-g5.maxSize`), the bad value and what is
allowed, and all problems of a stack file are reported together. Each section's model and checks
live in its own module; this one holds the whole config, the checks across sections and parsing.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field, SecretStr, ValidationError

from .. import aws_names, catalog
from .addons import AddonsConfig, check_kubeflow_trainer
from .artifacts import ArtifactsConfig
from .base import PROJECT, ConfigError, _Model, key
from .cluster import ClusterConfig, check_cluster, check_node_group_name
from .dev_pod import DevPodConfig, check_dev_pod
from .image import ImageConfig, check_image
from .job_runs import check_runs
from .network import NetworkConfig, check_network
from .node_health import NodeHealthConfig
from .notifications import NotificationsConfig, check_notifications
from .observability import ObservabilityConfig, check_observability
from .pools import (
    KarpenterConfig,
    NodeGroupConfig,
    NodePoolConfig,
    PoolFacts,
    check_karpenter,
    check_node_group,
    check_node_pool,
)
from .queues import QueuePlan, QueuesConfig, check_job_queue, check_queues, plan_queues
from .serving import ServingJobConfig, check_engine_credential, check_serving
from .wandb_config import WandbConfig, WandbTarget, check_wandb, target
from .workloads import (
    TrainingJobConfig,
    VolumeConfig,
    check_job,
    check_jobs_namespace,
    check_volume,
)

# Keys that must be set with `pulumi config set --secret`.
SECRET_KEYS = ("hfToken", "devPodSshKeys", "dockerHubToken", "wandbApiKey")


class PlatformConfig(_Model):
    cluster: ClusterConfig
    network: NetworkConfig = NetworkConfig()
    node_groups: dict[str, NodeGroupConfig]
    karpenter: KarpenterConfig = KarpenterConfig()
    addons: AddonsConfig = AddonsConfig()
    image: ImageConfig = ImageConfig()
    artifacts: ArtifactsConfig = ArtifactsConfig()
    notifications: NotificationsConfig = NotificationsConfig()
    observability: ObservabilityConfig = ObservabilityConfig()  # config/observability.py
    node_health: NodeHealthConfig = NodeHealthConfig()  # config/node_health.py
    volumes: dict[str, VolumeConfig] = {}
    training_jobs: dict[str, TrainingJobConfig] = {}
    dev_pod: DevPodConfig = DevPodConfig()
    serving_jobs: dict[str, ServingJobConfig] = {}  # config/serving.py
    queues: QueuesConfig = QueuesConfig()  # config/queues.py; with addons.kueue
    # The Docker Hub account ECR pulls the pinned vLLM image with (dockerHubToken its secret).
    docker_hub_user: str | None = None
    wandb: WandbConfig = WandbConfig()  # config/wandb_config.py; on with wandbApiKey
    jobs_namespace: str = "training"  # checked in workloads.check_jobs_namespace
    # Secrets (`pulumi config set --secret`): only their presence is checked here; the program
    # reads them as secret Outputs, so they never leave Pulumi's secret handling.
    hf_token: SecretStr | None = None
    dev_pod_ssh_keys: SecretStr | None = None
    docker_hub_token: SecretStr | None = None
    wandb_api_key: SecretStr | None = None
    tags: dict[str, str] = {}
    # Not a trainstack key: `aws:region`, checked against the zone table.
    region: str = Field(default="us-west-2", exclude=True)

    @property
    def system_group(self) -> tuple[str, NodeGroupConfig]:
        return next((n, g) for n, g in self.node_groups.items() if g.role == "system")

    @property
    def gpu_groups(self) -> dict[str, NodeGroupConfig]:
        return {n: g for n, g in self.node_groups.items() if g.role == "gpu"}

    @property
    def node_pools(self) -> dict[str, NodePoolConfig]:
        return self.karpenter.node_pools if self.karpenter.enabled else {}

    @property
    def kubeflow_trainer_installed(self) -> bool:
        """Trainer v2 and JobSet: when asked for, or when a job has framework: trainjob."""
        frameworks = (j.framework for j in self.training_jobs.values())
        return self.addons.kubeflow_trainer.installed(frameworks)

    @property
    def efa_in_use(self) -> bool:
        return any(g.efa for g in self.gpu_groups.values()) or any(
            p.efa for p in self.node_pools.values()
        )

    def https_except_vpc(self) -> str | None:
        """The VPC CIDR that pods' HTTPS egress keeps out, or None when interface endpoints put
        AWS's APIs on VPC addresses (runtime_contract.https_outside)."""
        return None if self.network.interface_endpoints else str(self.network.cidr)

    def capacity_types_by_pool(self) -> dict[str, tuple[str, ...]]:
        """Every pool (node groups, the system one too, and NodePools) -> the capacity types its
        nodes may carry, in Karpenter's spelling (on-demand, spot): what the job watcher's fleet
        figures break nodes down by (jobwatch/fleet.py)."""
        pools = {
            name: (g.capacity_type.lower().replace("_", "-"),)
            for name, g in self.node_groups.items()
        }
        pools.update({name: tuple(p.capacity_types) for name, p in self.node_pools.items()})
        return pools

    def gpu_ceiling(self) -> int:
        """The most GPUs this stack can ever run: every group at maxSize, every pool at maxGpus."""
        return sum(f.max_gpus or 0 for f in self.pools().values())

    def zones(self) -> tuple[str, ...]:
        return catalog.REGION_ZONES[self.region][: self.network.az_count]

    @property
    def efa_zone(self) -> str:
        """The one zone of every EFA node group and EFA NodePool: `network.efaZone`, else the
        first configured zone.

        EFA traffic stays within a zone and a cluster placement group cannot span zones, so all
        EFA capacity shares this zone (and reaches FSx/EFS mount targets there without crossing).
        """
        return self.network.efa_zone or self.zones()[0]

    def volume_zone(self, volume: str) -> str:
        """The zone of a volume's FSx for Lustre file system, which lives in one zone: the EFA
        zone when an EFA job mounts it (EFA nodes are all there), else the first zone."""
        pools = self.pools()
        efa = any(
            j.checkpoint_volume == volume and j.uses_efa(pools[j.node_pool])
            for j in self.training_jobs.values()
            if j.node_pool in pools
        )
        return self.efa_zone if efa else self.zones()[0]

    def pools(self) -> dict[str, PoolFacts]:
        """Every GPU pool a job may name: Karpenter NodePools and GPU managed node groups."""
        return {
            **{n: g.facts(n) for n, g in self.gpu_groups.items()},
            **{n: p.facts(n) for n, p in self.node_pools.items()},
        }

    def held_gpus(self) -> dict[str, int]:
        """GPUs per pool that running servers hold (every replica, around the clock): Kueue does
        not admit them (components/kueue.py says why), so they come off the pool's queues. The
        dev pod's do not: it stops when idle, and a quota without its GPU would keep them from
        every job while it is stopped."""
        held: dict[str, int] = {}
        for s in self.serving_jobs.values():
            if s.running:
                held[s.node_pool] = held.get(s.node_pool, 0) + s.replicas * s.gpus
        return held

    def queue_plan(self) -> QueuePlan:
        """Every Kueue queue with its quotas in each pool (config/queues.py)."""
        return plan_queues(self.queues, self.pools(), self.held_gpus())

    @property
    def secrets_set(self) -> set[str]:
        return {
            k
            for k, v in (
                ("hfToken", self.hf_token),
                ("devPodSshKeys", self.dev_pod_ssh_keys),
                ("dockerHubToken", self.docker_hub_token),
                ("wandbApiKey", self.wandb_api_key),
            )
            if v is not None and v.get_secret_value()
        }

    def wandb_target(self) -> WandbTarget | None:
        """Where the training jobs log to Weights & Biases; None: no key, W&B off."""
        return target(self.wandb, self.cluster.name, self.secrets_set)


# ------------------------------------------------------------------------ checks across sections


def _check_workloads(cfg: PlatformConfig) -> list[str]:
    """The workload sections, against the pools they run on (which must be valid themselves)."""
    pools = cfg.pools()
    operators = {
        "trainingOperator": cfg.addons.training_operator.enabled,
        "kuberay": cfg.addons.kuberay.enabled,
        "kubeflowTrainer": cfg.addons.kubeflow_trainer.enabled is not False,
    }
    issues = check_image(cfg.image) + check_notifications(cfg.notifications, cfg.image.enabled)
    kueue = cfg.addons.queued
    queue_plan = cfg.queue_plan()
    issues += check_queues(cfg.queues, pools, queue_plan, kueue=kueue)
    if cfg.kubeflow_trainer_installed:
        issues += check_kubeflow_trainer(cfg.addons.kubeflow_trainer)
    issues += check_wandb(cfg.wandb, cfg.secrets_set, cfg.training_jobs)
    for name, vol in cfg.volumes.items():
        issues += check_volume(name, vol, artifacts_enabled=cfg.artifacts.enabled)
    for name, job in cfg.training_jobs.items():
        issues += check_job(
            name,
            job,
            pools,
            cfg.volumes,
            cfg.secrets_set,
            artifacts=cfg.artifacts.enabled,
        )
        issues += check_runs(
            ("trainingJobs", name),
            job,
            allowed=cfg.image.allowed_repositories,
            artifacts=cfg.artifacts.enabled,
        )
        if job.node_pool in pools:
            issues += check_job_queue(
                ("trainingJobs", name),
                queue=job.queue,
                priority=job.priority,
                pool=job.node_pool,
                gpus=job.node_range[1] * job.gpus_per_node,
                q=cfg.queues,
                plan=queue_plan,
                kueue=kueue,
            )
        needed = {"pytorch": "trainingOperator", "ray": "kuberay", "trainjob": "kubeflowTrainer"}[
            job.framework
        ]
        if not operators.get(needed, True):
            issues.append(
                f"{key('trainingJobs', name, 'framework')} = {job.framework!r}: needs "
                f"addons.{needed}, which is disabled"
            )
    if (cfg.training_jobs or cfg.dev_pod.enabled or cfg.serving_jobs) and not cfg.image.enabled:
        issues.append(
            f"{key('image', 'enabled')} = false: trainingJobs, servingJobs and devPod run the "
            "image this stack builds; enable it"
        )
    return (
        issues
        + _check_serving(cfg, pools)
        + check_dev_pod(cfg.dev_pod, pools, cfg.volumes, cfg.secrets_set)
    )


def _check_serving(cfg: PlatformConfig, pools: dict[str, PoolFacts]) -> list[str]:
    issues = []
    for name, s in cfg.serving_jobs.items():
        issues += check_serving(
            name,
            s,
            pools,
            cfg.volumes,
            cfg.secrets_set,
            artifacts=cfg.artifacts.enabled,
            bucket_prefix=aws_names.artifacts_bucket_prefix(cfg.cluster.name),
            allowed_images=cfg.image.allowed_repositories,
        )
    return issues + check_engine_credential(cfg.serving_jobs, cfg.docker_hub_user, cfg.secrets_set)


def _check_platform(cfg: PlatformConfig) -> list[str]:
    issues = check_cluster(cfg.cluster) + check_network(cfg.network, cfg.region)
    issues += check_jobs_namespace(cfg.jobs_namespace) + check_observability(cfg.observability)
    for name, group in cfg.node_groups.items():
        issues += check_node_group(name, group)
        issues += check_node_group_name(cfg.cluster.name, name)
    systems = [n for n, g in cfg.node_groups.items() if g.role == "system"]
    if len(systems) != 1:
        issues.append(
            f"{key('nodeGroups')}: needs exactly one group with role: system (found "
            f"{len(systems)}: {systems}); it runs Karpenter, CoreDNS and the operators"
        )
    if cfg.karpenter.enabled:
        issues += check_karpenter(cfg.karpenter)
        for name in sorted(set(cfg.node_groups) & set(cfg.karpenter.node_pools)):
            issues.append(
                f"{key('karpenter', 'nodePools', name)}: name {name!r} is also a node "
                "group; pool names must be unique across nodeGroups and "
                "karpenter.nodePools (jobs select a pool by name)"
            )
    if not issues:  # job checks need pools that are themselves valid
        issues += _check_workloads(cfg)
    return issues


# ------------------------------------------------------------------------------------- loading


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed at the mapping that holds `loc[-1]`, for 'unknown key' messages."""
    for part in loc[:-1]:
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            continue  # a dict key (pool name): stay on the value model
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        nested = args[-1] if args else ann
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            model = nested
    return [f.alias or n for n, f in model.model_fields.items() if not f.exclude]


def _format(err: dict[str, Any]) -> str:
    loc = err["loc"]
    path = key(*loc)
    path = re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", path)
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(PlatformConfig, loc)
        return f"{path}: unknown key; allowed here: {', '.join(allowed)}"
    if err["type"] == "missing":
        return f"{path}: missing; this key is required"
    if loc and loc[0] in SECRET_KEYS:
        return f"{path}: {err['msg']} (value not shown: it is a secret)"
    return f"{path} = {err.get('input')!r}: {err['msg']}"


def _parts_that_parse(data: dict[str, Any], region: str) -> list[str]:
    """Checks of the sections that parse on their own, so one typo does not hide the rest."""

    def parsed(model: type[_Model], value: Any) -> Any:
        try:
            return model.model_validate(value)
        except ValidationError:
            return None

    issues = []
    if (cluster := parsed(ClusterConfig, data.get("cluster"))) is not None:
        issues += check_cluster(cluster)
    if (network := parsed(NetworkConfig, data.get("network", {}))) is not None:
        issues += check_network(network, region)
    if isinstance(data.get("jobsNamespace"), str):
        issues += check_jobs_namespace(data["jobsNamespace"])
    for name, group in (data.get("nodeGroups") or {}).items():
        if (g := parsed(NodeGroupConfig, group)) is not None:
            issues += check_node_group(name, g)
            if cluster is not None:
                issues += check_node_group_name(cluster.name, name)
    karpenter = data.get("karpenter") or {}
    if isinstance(karpenter, dict) and karpenter.get("enabled", True):
        for name, pool in (karpenter.get("nodePools") or {}).items():
            if (p := parsed(NodePoolConfig, pool)) is not None:
                issues += check_node_pool(name, p)
    return issues


def parse(data: dict[str, Any], region: str = "us-west-2") -> PlatformConfig:
    """Validate the `trainstack:*` config mapping (keys without the namespace) for `region`."""
    try:
        cfg = PlatformConfig.model_validate({**data, "region": region})
    except ValidationError as exc:
        issues = [_format(e) for e in exc.errors()]
        try:
            issues += _parts_that_parse(data, region)
        except (TypeError, AttributeError):
            pass  # a section is not even a mapping: its type error above says so
        raise ConfigError(list(dict.fromkeys(issues))) from None
    issues = _check_platform(cfg)
    if issues:
        raise ConfigError(issues)
    return cfg


def parse_pulumi_config(raw: dict[str, Any]) -> PlatformConfig:
    """Validate config in the engine's flat shape: {"trainstack:cluster": "<json>", ...}."""
    import json

    data: dict[str, Any] = {}
    for full_key, value in raw.items():
        namespace, _, name = full_key.partition(":")
        if namespace != PROJECT:
            continue
        try:
            data[name] = json.loads(value)
        except ValueError:
            data[name] = value
    return parse(data, raw.get("aws:region") or "us-west-2")


def load() -> PlatformConfig:
    """Read and validate this stack's config from the running Pulumi program."""
    from pulumi.runtime import config as runtime_config

    # The language host passes config as PULUMI_CONFIG; the mock engine sets it in-process.
    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    plain = [
        k
        for k in SECRET_KEYS
        if f"{PROJECT}:{k}" in raw and not runtime_config.is_config_secret(f"{PROJECT}:{k}")
    ]
    if plain:
        raise ConfigError(
            [
                f"{key(k)}: stored in plain text in the stack file; run `pulumi config "
                f"rm {key(k)}` and set it again with `pulumi config set --secret "
                f"{key(k)} ...`"
                for k in plain
            ]
        )
    return parse_pulumi_config(raw)
