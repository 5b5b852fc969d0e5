"""`trainstack:volumes`, `trainstack:trainingJobs` and `trainstack:jobsNamespace`: checkpoint
volumes and the PyTorchJobs/RayJobs/TrainJobs that run on the pools, with the checks that need
those pools.

Every check runs at config time, so a job that could never be scheduled (more GPUs per node than
the pool's instances have, more nodes than its ceiling, a node-local volume shared by several
nodes) fails `pulumi preview` with the key to fix instead of pending forever in the cluster.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, StrictBool, field_validator

from policies.rules.base import secret_named
from trainer import config as trainer_config

from .. import k8s_names
from .addons import ADDON_NAMESPACES
from .base import _Model, key
from .checks import dns_name, hf_token_secret, unknown_pool, unknown_volume
from .fsx import (
    DEFAULT_DEPLOYMENT,
    FSX_MIN_GIB,
    THROUGHPUTS,
    DataRepositoryConfig,
    DeploymentType,
    check_job_folder,
    check_lustre,
)
from .notifications import HUNG_FACTOR
from .pools import PoolFacts
from .sizing import CPU_QUANTITY, QUANTITY, check_pool_fit, check_resources, gib
from .volume_throughput import volume_throughput_mbps

# Pods are named <job>-worker-<n> / <job>-raycluster-xxxxx-gpu-group-worker-xxxxx: keep room.
MAX_JOB_NAME = 40
# Set by the job itself (the mounted volume, the metrics folder), not by `args`;
# checkpoint.upload too while the job uploads (uploadCheckpoints).
RESERVED_ARGS = ("checkpoint.dir", "metrics.out_dir")
UPLOAD_ARG = "checkpoint.upload"
SECRET_ENV = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|ACCESS_KEY|PRIVATE_KEY)", re.I)
# jobsNamespace may not be one the cluster owns or one the stack's add-ons run in: the stack
# creates it (a Namespace that exists fails to create) and confines it with Pod Security labels.
# "default" holds the `kubernetes` Service and whatever lands there unqualified.
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "default")


# Each CSI driver's documented example StorageClass; components/storage.py creates the efs and
# ebs ones when a volume relies on them. An fsx volume gets a file system and a PV instead.
DEFAULT_STORAGE_CLASS = {"fsx": "fsx-sc", "efs": "efs-sc", "ebs": "gp3"}


class VolumeConfig(_Model):
    """A checkpoint volume: a PVC jobs mount (FSx for Lustre or EFS are shared, EBS is not)."""

    type: Literal["fsx", "efs", "ebs"]
    size: str = Field(default="1200Gi", pattern=QUANTITY)
    storage_class_name: str | None = None
    existing_claim: str | None = None  # use this PVC, create none
    # type: fsx only, for the file system the stack creates (components/config/fsx.py).
    deployment_type: DeploymentType | None = None
    throughput: int | None = None  # MB/s per TiB; default: the type's lowest
    data_repository: DataRepositoryConfig | None = None

    @property
    def shared(self) -> bool:
        return self.type != "ebs"

    @property
    def stack_lustre(self) -> bool:
        """An FSx for Lustre file system the stack creates and binds by a PV (no class named,
        no claim given)."""
        return (
            self.type == "fsx" and self.existing_claim is None and self.storage_class_name is None
        )

    @property
    def lustre_deployment(self) -> str:
        return self.deployment_type or DEFAULT_DEPLOYMENT

    @property
    def lustre_throughput(self) -> int | None:
        """MB/s per TiB: as configured, else the type's lowest; None for scratch."""
        allowed = THROUGHPUTS[self.lustre_deployment]
        return self.throughput or (allowed[0] if allowed else None)

    @property
    def storage_class(self) -> str:
        return self.storage_class_name or DEFAULT_STORAGE_CLASS[self.type]


# The frameworks whose pods run torchrun with this stack's command (job_command.torchrun_command):
# a PyTorchJob (training operator v1) and a TrainJob (Kubeflow Trainer v2, components/trainjob.py).
TORCHRUN_FRAMEWORKS = ("pytorch", "trainjob")


class TrainingJobConfig(_Model):
    framework: Literal["pytorch", "ray", "trainjob"] = "pytorch"
    node_pool: str
    nodes: int | None = Field(default=None, ge=1)
    min_nodes: int | None = Field(default=None, ge=1)
    max_nodes: int | None = Field(default=None, ge=1)
    gpus_per_node: int = Field(default=1, ge=1)
    # The trainer's preset, max_steps and options: for a job that runs this stack's trainer.
    preset: str | None = None
    max_steps: int | None = Field(default=None, ge=1)
    # Any trainer option by its path: {optim.lr: 0.0003, global_batch_size: 64}.
    args: dict[str, Any] = {}
    checkpoint_volume: str | None = None
    efa: bool | None = None  # default: the pool's (see uses_efa)
    max_restarts: int = Field(default=3, ge=0)
    backoff_limit: int = Field(default=3, ge=0)
    clean_pod_policy: Literal["None", "Running", "All"] = "Running"
    ttl_seconds_after_finished: int = Field(default=86400, ge=0)
    # A hard stop for a forgotten job (GPU hours); None: no deadline.
    active_deadline_seconds: int | None = Field(default=None, ge=60)
    cpu: str | None = Field(default=None, pattern=CPU_QUANTITY)
    memory: str | None = Field(default=None, pattern=QUANTITY)
    shm_size: str | None = Field(default=None, pattern=QUANTITY)
    nccl_debug: Literal["VERSION", "WARN", "INFO", "TRACE"] = "INFO"
    hf_token: bool = False  # env HF_TOKEN from the Secret made of `trainstack:hfToken`
    env: dict[str, str] = {}
    # A workload of its own (job_runs.py): an ECR image by digest (default: this stack's image),
    # the script torchrun starts (pytorch) or the Ray job's command line (ray).
    image: str | None = None
    command: list[str] | None = None
    entrypoint: str | None = None
    ray_version: str | None = None  # rayClusterSpec.rayVersion; default: this image's Ray pin
    # The trainer's --checkpoint.upload s3://<artifacts bucket>/checkpoints/<job>; default: on
    # when the artifacts bucket exists (see uploads).
    upload_checkpoints: bool | None = None
    # A declared job is held (no pods, so no GPU nodes) until its stack says false: a first
    # `pulumi up` builds an idle platform. With Kueue, held means not queued (components/
    # queueing.py); false queues it and Kueue starts it when its queue has the quota.
    suspend: bool = True
    # Kueue (config/queues.py): the LocalQueue the job waits in (a team of queues.teams; default
    # its pool's own queue) and its WorkloadPriorityClass (default queues.defaultPriority).
    queue: str | None = None
    priority: str | None = None
    # Run trainer.netcheck on the job's own pods before training (trainer/netcheck.py): a
    # network that is not EFA where EFA is expected, or under half the instance's bandwidth,
    # fails the job at once (exit 5, permanent) instead of training at TCP speed.
    netcheck: StrictBool = False
    # The job watcher's hung-job alarm for this job (jobwatch/alarms.py): no step progress for
    # this many times its own recent time per progress line; default notifications.alarms's.
    # For a job whose pauses (long evaluations, large checkpoints) the log does not show.
    hung_factor: float | None = Field(default=None, **HUNG_FACTOR)

    @field_validator("args")
    @classmethod
    def _option_paths(cls, args: dict[str, Any]) -> dict[str, Any]:
        """`data.num-shards` as on the trainer's command line, or `data.num_shards`: one form."""
        for path, value in args.items():
            if isinstance(value, (dict, list)):
                raise ValueError(
                    f"{path}: give one option per key as a dotted path, not a nested value"
                )
        return {path.replace("-", "_"): value for path, value in args.items()}

    @property
    def foreign(self) -> bool:
        """Runs its own command or entrypoint, not this stack's trainer."""
        return self.command is not None or self.entrypoint is not None

    def uploads(self, artifacts: bool) -> bool:
        """Whether the trainer gets --checkpoint.upload: never for a foreign command (it gets
        TRAINSTACK_CHECKPOINT_URI), else `uploadCheckpoints`, default on with a bucket."""
        if self.foreign or not artifacts:
            return False
        return self.upload_checkpoints is not False

    @property
    def torchrun(self) -> bool:
        """Its pods run torchrun (PyTorchJob, TrainJob), not Ray."""
        return self.framework in TORCHRUN_FRAMEWORKS

    @property
    def elastic(self) -> bool:
        return self.min_nodes is not None or self.max_nodes is not None

    @property
    def node_range(self) -> tuple[int, int]:
        if self.elastic:
            return self.min_nodes or 1, self.max_nodes or self.min_nodes or 1
        return self.nodes or 1, self.nodes or 1

    @property
    def multi_node(self) -> bool:
        return self.node_range[1] > 1

    def uses_efa(self, pool: PoolFacts) -> bool:
        """Whether the job's GPU pods request EFA: its own `efa`, else its pool's. The one
        decision the renderer and the plan's job table both ask."""
        return pool.efa if self.efa is None else self.efa


FSX_KEYS = ("deploymentType", "throughput", "dataRepository")


def check_volume(name: str, v: VolumeConfig, *, artifacts_enabled: bool = True) -> list[str]:
    issues = dns_name(("volumes", name), name)
    given = [k for k in FSX_KEYS if getattr(v, _snake(k)) is not None]
    if given and not v.stack_lustre:
        why = (
            "an fsx volume the stack creates (without storageClassName or existingClaim)"
            if v.type == "fsx"
            else "type: fsx"
        )
        issues += [f"{key('volumes', name, k)}: only for {why}; remove it" for k in given]
    if v.stack_lustre:
        issues += check_lustre(
            ("volumes", name),
            v.size,
            v.lustre_deployment,
            v.throughput,
            v.data_repository,
            artifacts_enabled=artifacts_enabled,
        )
    elif v.type == "fsx" and v.existing_claim is None and gib(v.size) < FSX_MIN_GIB:
        issues.append(
            f"{key('volumes', name, 'size')} = {v.size!r}: FSx for Lustre starts at {FSX_MIN_GIB}Gi"
        )
    return issues


def _snake(camel: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)


def check_trainer_args(
    path: tuple, job: TrainingJobConfig, *, uploads: bool, volume: VolumeConfig | None = None
) -> list[str]:
    # The trainer's own config model: a bad option fails `pulumi preview`, not a running pod.
    if job.foreign or job.preset is None:
        return []  # job_runs.check_command: a foreign job sets none, the trainer needs a preset
    for reserved in RESERVED_ARGS:
        if reserved in job.args:
            return [
                f"{key(*path, 'args', reserved)}: set by the job (the checkpoint volume and "
                "the metrics folder); remove it"
            ]
    if uploads and UPLOAD_ARG in job.args:
        return [
            f"{key(*path, 'args', UPLOAD_ARG)}: set by the job to "
            "s3://<artifacts bucket>/checkpoints/<job> (uploadCheckpoints); remove it, or set "
            "uploadCheckpoints: false to upload elsewhere"
        ]
    overrides = dict(job.args)
    if job.max_steps is not None:
        overrides["max_steps"] = job.max_steps
    # The volume's throughput, as the job passes it: the trainer's checkpoint budget refuses a
    # save or load that cannot finish within the process-group timeout (job_command.py).
    mbps = volume_throughput_mbps(volume) if volume is not None else None
    if mbps is not None:
        overrides.setdefault("checkpoint.volume_throughput_mbps", mbps)
    where = key(*path, "args") if job.args else key(*path)
    try:
        cfg = trainer_config.build(job.preset, overrides)
    except trainer_config.ConfigError as err:
        return [f"{where}: {issue}" for issue in err.issues]
    low, high = job.node_range
    for nodes in range(low, high + 1):  # an elastic job runs at every size in its range
        try:
            cfg.check_world(nodes * job.gpus_per_node)
        except trainer_config.ConfigError as err:
            return [f"{where}: {issue} (at {nodes} nodes)" for issue in err.issues]
    return []


def check_job(
    name: str,
    job: TrainingJobConfig,
    pools: dict[str, PoolFacts],
    volumes: dict[str, VolumeConfig],
    secrets: set[str],
    *,
    artifacts: bool = False,
) -> list[str]:
    """Every check of where and how one job runs, and the trainer's own (check_trainer_args),
    which a foreign job (job_runs.py, checked there for what it runs) skips: pool fit, GPUs per
    node, node counts, EFA, volumes, secrets, env and resources apply to any workload."""
    path = ("trainingJobs", name)
    issues = dns_name(path, name, max_len=MAX_JOB_NAME, why="pod names add suffixes")
    if job.elastic and job.nodes is not None:
        issues.append(
            f"{key(*path)}: set either nodes (a fixed size) or minNodes/maxNodes "
            "(elastic), not both"
        )
    elif not job.elastic and job.nodes is None:
        issues.append(
            f"{key(*path, 'nodes')}: missing; set nodes, or minNodes and maxNodes for "
            "an elastic job"
        )
    if job.elastic:
        if job.min_nodes is None or job.max_nodes is None:
            issues.append(f"{key(*path)}: an elastic job needs both minNodes and maxNodes")
        elif job.min_nodes > job.max_nodes:
            issues.append(
                f"{key(*path, 'minNodes')} = {job.min_nodes}: above maxNodes {job.max_nodes}"
            )
        if job.framework != "pytorch":
            # Trainer v2.2.1 has no elastic TrainJob (torch.go: "Add support for PyTorch elastic
            # when JobSet supports Elastic Jobs"); trainer.numNodes is one number.
            issues.append(
                f"{key(*path, 'framework')} = {job.framework!r}: elastic minNodes/maxNodes are "
                "for framework: pytorch (the training operator's elastic PyTorchJob); give a "
                f"{'Ray job' if job.framework == 'ray' else 'TrainJob'} nodes"
            )
    pool = pools.get(job.node_pool)
    if pool is None:
        issues.append(unknown_pool(key(*path, "nodePool"), job.node_pool, pools))
    else:
        fit = check_pool_fit((*path, "gpusPerNode"), pool, job.gpus_per_node)
        issues += fit
        high = job.node_range[1]
        field = "maxNodes" if job.elastic else "nodes"
        if pool.max_nodes is not None and high > pool.max_nodes:
            limit = "maxNodes" if pool.karpenter else "maxSize"
            issues.append(
                f"{key(*path, field)} = {high}: pool {pool.name!r} allows at most "
                f"{pool.max_nodes} nodes ({limit}); lower it or raise the pool's {limit}"
            )
        # A node group's GPU bound follows from maxSize, already reported above.
        if (
            pool.karpenter
            and pool.max_gpus is not None
            and high * job.gpus_per_node > pool.max_gpus
        ):
            issues.append(
                f"{key(*path, field)} = {high}: {high} x {job.gpus_per_node} GPUs is "
                f"above the {pool.max_gpus} GPUs pool {pool.name!r} allows (maxGpus)"
            )
        if job.efa and not pool.efa:
            issues.append(
                f"{key(*path, 'efa')} = true: pool {pool.name!r} has no EFA; use an "
                "EFA pool (efa: true) or remove efa"
            )
        if not fit:
            issues += check_resources(
                path, pool, job.gpus_per_node, job.cpu, job.memory, job.shm_size
            )
    if job.checkpoint_volume is None:
        issues.append(
            f"{key(*path, 'checkpointVolume')}: missing; without a volume a restarted "
            "worker starts again from step 0; name one of `volumes` "
            f"({', '.join(sorted(volumes)) or 'none defined yet'})"
        )
    elif job.checkpoint_volume not in volumes:
        issues.append(
            unknown_volume(key(*path, "checkpointVolume"), job.checkpoint_volume, volumes)
        )
    elif not volumes[job.checkpoint_volume].shared and (job.multi_node or job.framework == "ray"):
        # A Ray job's head (on a system node) mounts the volume too: its storage path is there.
        spans = (
            "its Ray head and GPU workers run on different nodes"
            if not job.multi_node
            else f"this job spans {job.node_range[1]} nodes"
        )
        issues.append(
            f"{key(*path, 'checkpointVolume')} = {job.checkpoint_volume!r}: an EBS "
            f"volume attaches to one node, but {spans}; use an fsx or efs volume"
        )
    volume = volumes.get(job.checkpoint_volume or "")
    if volume is not None and volume.data_repository is not None:
        issues += check_job_folder(path, name, str(job.checkpoint_volume), volume.data_repository)
    issues += hf_token_secret(path, job.hf_token, secrets)
    if job.netcheck and (not job.torchrun or job.foreign or job.image is not None):
        issues.append(
            f"{key(*path, 'netcheck')} = true: the network check runs this stack's trainer "
            "image under torchrun before the trainer itself; only for a framework: pytorch "
            "or trainjob job without its own image, command or entrypoint (run `trainstack "
            "netcheck` on the pool instead)"
        )
    if job.framework == "trainjob":
        issues += _check_trainjob(path, name, job)
    for env_name in job.env:
        # At least as strict as the pack's no-plaintext-secrets-in-env (secret_named), which
        # would otherwise block the plan after resources are declared.
        if SECRET_ENV.search(env_name) or secret_named(env_name):
            issues.append(
                f"{key(*path, 'env', env_name)}: looks like a secret; plain env values "
                "show in `kubectl describe`; use hfToken or a Kubernetes Secret"
            )
    return issues + check_trainer_args(path, job, uploads=job.uploads(artifacts), volume=volume)


def _check_trainjob(path: tuple, name: str, job: TrainingJobConfig) -> list[str]:
    """What a TrainJob (Kubeflow Trainer v2.2.1) allows beyond a PyTorchJob's checks."""
    issues = []
    # trainer.kubeflow.org_trainjobs CRD at v2.2.1: two root CEL rules on metadata.name.
    if problem := k8s_names.dns1035_label(name):
        issues.append(
            f"{key(*path)}: name {name!r} {problem}: a TrainJob's name is its JobSet's and "
            "its pods' DNS subdomain (the TrainJob CRD's metadata.name rule)"
        )
    # JobSet deletes the Jobs still running when it finishes, and keeps the finished ones' pods
    # until ttlSecondsAfterFinished: the training operator's "Running", the only policy it has.
    if "clean_pod_policy" in job.model_fields_set and job.clean_pod_policy != "Running":
        issues.append(
            f"{key(*path, 'cleanPodPolicy')} = {job.clean_pod_policy!r}: a TrainJob's JobSet "
            "deletes the pods still running when it ends and keeps the others until "
            "ttlSecondsAfterFinished (cleanPodPolicy Running); remove it"
        )
    return issues


def check_jobs_namespace(ns: str) -> list[str]:
    where = f"{key('jobsNamespace')} = {ns!r}"
    if problem := k8s_names.dns1123_label(ns):
        return [f"{where}: {problem}"]
    if ns in SYSTEM_NAMESPACES or ns.startswith("kube-"):
        return [
            f"{where}: a Kubernetes system namespace (kube-* and default are the cluster's); "
            "use a namespace of its own, e.g. 'training'"
        ]
    if ns in ADDON_NAMESPACES:
        return [
            f"{where}: {ADDON_NAMESPACES[ns]} runs there; use a namespace of its own, e.g. "
            "'training'"
        ]
    return []
