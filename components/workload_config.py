"""Stack config for what runs on the platform: the trainer image build, checkpoint volumes,
training jobs and the development pod, with the checks that need the pools they run on.

Every check runs at config time, so a job that could never be scheduled (more GPUs per node than
the pool's instances have, more nodes than its ceiling, a node-local volume shared by several
nodes) fails `pulumi preview` with the key to fix instead of pending forever in the cluster.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator

from aws_rules.documented import SCHEDULE_EXPRESSION
from policies.rules.base import secret_named
from trainer import config as trainer_config
from trainer.selftest import LEVELS as SELFTEST_LEVELS

from . import catalog
from .config_base import DNS_LABEL, LOG_RETENTION_DAYS, _Model, key

COMPUTE_TYPES = (
    "BUILD_GENERAL1_MEDIUM",
    "BUILD_GENERAL1_LARGE",
    "BUILD_GENERAL1_XLARGE",
    "BUILD_GENERAL1_2XLARGE",
)
QUANTITY = r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$"  # (number)(unit), _gib reads both
CPU_QUANTITY = r"^\d+(\.\d+)?m?$"
# Pods are named <job>-worker-<n> / <job>-raycluster-xxxxx-gpu-group-worker-xxxxx: keep room.
MAX_JOB_NAME = 40
# Set by the job itself (the mounted volume, the metrics folder), not by `args`.
RESERVED_ARGS = ("checkpoint.dir", "metrics.out_dir")
SECRET_ENV = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|ACCESS_KEY|PRIVATE_KEY)", re.I)
# FSx for Lustre's smallest file system (SCRATCH_2 / PERSISTENT_2).
FSX_MIN_GIB = 1200
# Kept for the kubelet, the CNI, kube-proxy and the device plugins on every GPU node.
RESERVED_CPU_FRACTION = 0.25
RESERVED_MEMORY_FRACTION = 0.25


# ---------------------------------------------------------------------------------------- models


class GithubSource(_Model):
    owner: str = Field(pattern=r"^[A-Za-z0-9-]+$")
    repo: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    branch: str = "main"


class ImageConfig(_Model):
    """The trainer image: ECR repository and the CodeBuild project that builds it on `up`."""

    enabled: bool = True
    # SMALL (3 GB) cannot build a CUDA image; LARGE has 15 GB and 128 GB of disk.
    compute_type: Literal[COMPUTE_TYPES] = "BUILD_GENERAL1_LARGE"  # type: ignore[valid-type]
    build_timeout_minutes: int = Field(default=60, ge=5, le=480)
    max_attempts: int = Field(default=3, ge=1, le=5)
    untagged_expire_days: int = Field(default=7, ge=1)
    keep_tagged: int = Field(default=30, ge=1)
    log_retention_days: int = 30
    github: GithubSource | None = None  # builds on every push to the branch
    nightly_schedule: str | None = None  # e.g. "cron(0 3 * * ? *)"
    # The selftest level the build runs inside the image before pushing it (trainer/selftest.py).
    # Not part of the source hash: changing it alone rebuilds nothing (docs/trainer.md).
    test_level: Literal[SELFTEST_LEVELS] = "standard"  # type: ignore[valid-type]
    # The build runs `preflight --fix` and builds the fixed files, the diff in its log. Not part
    # of the source hash either (imagebuild/preflight/fix.py).
    auto_fix: bool = False


# Each CSI driver's documented example StorageClass; components/storage.py creates the efs and
# ebs ones when a volume relies on them.
DEFAULT_STORAGE_CLASS = {"fsx": "fsx-sc", "efs": "efs-sc", "ebs": "gp3"}


class VolumeConfig(_Model):
    """A checkpoint volume: a PVC jobs mount (FSx for Lustre or EFS are shared, EBS is not)."""

    type: Literal["fsx", "efs", "ebs"]
    size: str = Field(default="1200Gi", pattern=QUANTITY)
    storage_class_name: str | None = None
    existing_claim: str | None = None  # use this PVC, create none

    @property
    def shared(self) -> bool:
        return self.type != "ebs"

    @property
    def storage_class(self) -> str:
        return self.storage_class_name or DEFAULT_STORAGE_CLASS[self.type]


class TrainingJobConfig(_Model):
    framework: Literal["pytorch", "ray"] = "pytorch"
    node_pool: str
    nodes: int | None = Field(default=None, ge=1)
    min_nodes: int | None = Field(default=None, ge=1)
    max_nodes: int | None = Field(default=None, ge=1)
    gpus_per_node: int = Field(default=1, ge=1)
    preset: str
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
    # A declared job waits suspended (no pods, so no GPU nodes) until its stack says false: a
    # first `pulumi up` builds an idle platform. How flipping it launches: training_job.py.
    suspend: bool = True

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


class DevPodConfig(_Model):
    enabled: bool = False
    node_pool: str | None = None
    gpus: int = Field(default=1, ge=0)
    cpu: str | None = Field(default=None, pattern=CPU_QUANTITY)
    memory: str | None = Field(default=None, pattern=QUANTITY)
    jupyter: bool = True
    ssh: bool = True  # authorized keys from `trainstack:devPodSshKeys` (a secret)
    # Empty: reachable only through `kubectl port-forward`. Listed: a LoadBalancer for these.
    load_balancer_cidrs: list[ipaddress.IPv4Network] = []
    volume: str | None = None  # a volume from `volumes`, mounted at /workspace/shared


# ------------------------------------------------------------------------------------ pool facts


@dataclass(frozen=True)
class PoolFacts:
    """What a job needs to know of a node group or NodePool to fit on it."""

    name: str
    karpenter: bool
    instances: tuple[catalog.GpuInstance, ...]
    max_nodes: int | None
    max_gpus: int | None
    efa: bool

    @property
    def max_gpus_per_node(self) -> int:
        return max((i.gpus for i in self.instances), default=0)

    def smallest_fitting(self, gpus: int) -> catalog.GpuInstance | None:
        """The instance a pod must fit on: the smallest the pool may launch with enough GPUs."""
        fits = [i for i in self.instances if i.gpus >= gpus]
        return min(fits, key=lambda i: (i.gpus, i.vcpus, i.memory_gib), default=None)


@dataclass(frozen=True)
class PodSize:
    gpus: int
    efa: int
    cpu: str
    memory: str
    shm: str


def _gib(quantity: str) -> float:
    m = re.match(QUANTITY, quantity)
    if m is None:
        raise ValueError(quantity)
    scale = {
        None: 2**-30,
        "Ki": 2**-20,
        "Mi": 2**-10,
        "Gi": 1,
        "Ti": 2**10,
        "k": 1e3 / 2**30,
        "M": 1e6 / 2**30,
        "G": 1e9 / 2**30,
        "T": 1e12 / 2**30,
    }
    return float(m.group(1)) * scale[m.group(2)]


def _cpus(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def pod_size(
    pool: PoolFacts,
    gpus: int,
    *,
    efa: bool,
    cpu: str | None = None,
    memory: str | None = None,
    shm: str | None = None,
) -> PodSize:
    """Requests that fit the smallest instance with `gpus` GPUs, leaving room for node agents;
    /dev/shm a quarter of the memory (NCCL and DataLoader workers use it), counted in it."""
    inst = pool.smallest_fitting(max(gpus, 1))
    assert inst is not None, "checked by check_workloads"
    cpu = cpu or str(max(1, int(inst.vcpus * (1 - RESERVED_CPU_FRACTION))))
    mem_gib = int(inst.memory_gib * (1 - RESERVED_MEMORY_FRACTION))
    memory = memory or f"{mem_gib}Gi"
    shm = shm or f"{max(1, int(_gib(memory) / 4))}Gi"
    return PodSize(
        gpus=gpus, efa=inst.efa_interfaces if efa else 0, cpu=cpu, memory=memory, shm=shm
    )


# ----------------------------------------------------------------------------------------- checks


def _check_image(img: ImageConfig) -> list[str]:
    issues = []
    if img.log_retention_days not in LOG_RETENTION_DAYS:
        issues.append(
            f"{key('image', 'logRetentionDays')} = {img.log_retention_days}: "
            f"CloudWatch allows {', '.join(map(str, LOG_RETENTION_DAYS))}"
        )
    if img.nightly_schedule is not None and (
        problem := SCHEDULE_EXPRESSION.problem(img.nightly_schedule)
    ):
        issues.append(
            f"{key('image', 'nightlySchedule')} = {img.nightly_schedule!r}: {problem}; "
            "expected an EventBridge schedule such as 'cron(0 3 * * ? *)' or "
            f"'rate(1 day)' ({SCHEDULE_EXPRESSION.source})"
        )
    if img.nightly_schedule is not None and img.github is None:
        # Without a repository source a scheduled build would rebuild the last upload: nothing new.
        issues.append(
            f"{key('image', 'nightlySchedule')}: needs {key('image', 'github')} "
            "(owner, repo, branch) to build from; `pulumi up` already builds local edits"
        )
    return issues


def _check_volume(name: str, v: VolumeConfig) -> list[str]:
    issues = []
    if not re.match(DNS_LABEL, name):
        issues.append(f"{key('volumes', name)}: name {name!r} must be a DNS label")
    if v.type == "fsx" and v.existing_claim is None and _gib(v.size) < FSX_MIN_GIB:
        issues.append(
            f"{key('volumes', name, 'size')} = {v.size!r}: FSx for Lustre starts at {FSX_MIN_GIB}Gi"
        )
    return issues


def _check_resources(
    path: tuple,
    pool: PoolFacts,
    gpus: int,
    cpu: str | None,
    memory: str | None,
    shm: str | None = None,
) -> list[str]:
    inst = pool.smallest_fitting(max(gpus, 1))
    if inst is None:
        return []
    issues = []
    if cpu is not None and _cpus(cpu) > inst.vcpus - 0.5:
        issues.append(
            f"{key(*path, 'cpu')} = {cpu!r}: {inst.name} has {inst.vcpus} vCPUs and "
            "the node agents need some; ask for at most "
            f"{int(inst.vcpus * (1 - RESERVED_CPU_FRACTION))}"
        )
    if memory is not None and _gib(memory) > inst.memory_gib * 0.9:
        issues.append(
            f"{key(*path, 'memory')} = {memory!r}: {inst.name} has "
            f"{inst.memory_gib} GiB; ask for at most "
            f"{int(inst.memory_gib * (1 - RESERVED_MEMORY_FRACTION))}Gi"
        )
    limit = _gib(memory) if memory else inst.memory_gib * (1 - RESERVED_MEMORY_FRACTION)
    if shm is not None and _gib(shm) > limit / 2:
        issues.append(
            f"{key(*path, 'shmSize')} = {shm!r}: /dev/shm counts against the pod's "
            f"memory ({limit:.0f}Gi); keep it at most half of that"
        )
    return issues


def _check_pool_fit(path: tuple, pool: PoolFacts, gpus: int) -> list[str]:
    if gpus > pool.max_gpus_per_node:
        types = ", ".join(f"{i.name} ({i.gpus})" for i in pool.instances)
        return [
            f"{key(*path)} = {gpus}: pool {pool.name!r} has at most "
            f"{pool.max_gpus_per_node} GPUs per node ({types}); lower it or use a pool of "
            "larger instances"
        ]
    return []


def _check_trainer_args(path: tuple, job: TrainingJobConfig) -> list[str]:
    # The trainer's own config model: a bad option fails `pulumi preview`, not a running pod.
    for reserved in RESERVED_ARGS:
        if reserved in job.args:
            return [
                f"{key(*path, 'args', reserved)}: set by the job (the checkpoint volume and "
                "the metrics folder); remove it"
            ]
    overrides = dict(job.args)
    if job.max_steps is not None:
        overrides["max_steps"] = job.max_steps
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


def _check_job(
    name: str,
    job: TrainingJobConfig,
    pools: dict[str, PoolFacts],
    volumes: dict[str, VolumeConfig],
    secrets: set[str],
) -> list[str]:
    path = ("trainingJobs", name)
    issues = []
    if not re.match(DNS_LABEL, name) or len(name) > MAX_JOB_NAME:
        issues.append(
            f"{key(*path)}: name {name!r} must be a DNS label of at most "
            f"{MAX_JOB_NAME} characters (pod names add suffixes)"
        )
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
        if job.framework == "ray":
            issues.append(
                f"{key(*path, 'framework')} = 'ray': elastic minNodes/maxNodes are for "
                "framework: pytorch (torchrun's c10d rendezvous); give a Ray job nodes"
            )
    pool = pools.get(job.node_pool)
    if pool is None:
        issues.append(
            f"{key(*path, 'nodePool')} = {job.node_pool!r}: no such GPU pool; known: "
            f"{', '.join(sorted(pools)) or '(none)'} (karpenter.nodePools and GPU "
            "nodeGroups)"
        )
    else:
        fit = _check_pool_fit((*path, "gpusPerNode"), pool, job.gpus_per_node)
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
            issues += _check_resources(
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
            f"{key(*path, 'checkpointVolume')} = {job.checkpoint_volume!r}: not in "
            f"volumes ({', '.join(sorted(volumes)) or 'none defined'})"
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
    if job.hf_token and "hfToken" not in secrets:
        issues.append(
            f"{key(*path, 'hfToken')} = true: no token; run `pulumi config set "
            "--secret trainstack:hfToken hf_...`"
        )
    for env_name in job.env:
        # At least as strict as the pack's no-plaintext-secrets-in-env (secret_named), which
        # would otherwise block the plan after resources are declared.
        if SECRET_ENV.search(env_name) or secret_named(env_name):
            issues.append(
                f"{key(*path, 'env', env_name)}: looks like a secret; plain env values "
                "show in `kubectl describe`; use hfToken or a Kubernetes Secret"
            )
    return issues + _check_trainer_args(path, job)


def _check_dev_pod(
    d: DevPodConfig,
    pools: dict[str, PoolFacts],
    volumes: dict[str, VolumeConfig],
    secrets: set[str],
) -> list[str]:
    path = ("devPod",)
    if not d.enabled:
        return []
    issues = []
    pool = pools.get(d.node_pool or "")
    if pool is None:
        issues.append(
            f"{key(*path, 'nodePool')} = {d.node_pool!r}: name a GPU pool; known: "
            f"{', '.join(sorted(pools)) or '(none)'}"
        )
    else:
        fit = _check_pool_fit((*path, "gpus"), pool, d.gpus)
        issues += fit or _check_resources(path, pool, d.gpus, d.cpu, d.memory)
    if d.ssh and "devPodSshKeys" not in secrets:
        issues.append(
            f"{key(*path, 'ssh')} = true: no keys; run `pulumi config set --secret "
            'trainstack:devPodSshKeys "$(cat ~/.ssh/id_ed25519.pub)"`'
        )
    if not (d.ssh or d.jupyter):
        issues.append(f"{key(*path)}: enable ssh or jupyter, or nothing can reach the pod")
    for i, net in enumerate(d.load_balancer_cidrs):
        if net.prefixlen == 0:
            issues.append(
                f"{key(*path, 'loadBalancerCidrs')}[{i}] = '{net}': opens the pod to "
                "the whole internet; list your office or VPN range, or use "
                "kubectl port-forward"
            )
    if d.volume is not None and d.volume not in volumes:
        issues.append(
            f"{key(*path, 'volume')} = {d.volume!r}: not in volumes "
            f"({', '.join(sorted(volumes)) or 'none defined'})"
        )
    return issues


def check_workloads(
    *,
    image: ImageConfig,
    volumes: dict[str, VolumeConfig],
    jobs: dict[str, TrainingJobConfig],
    dev_pod: DevPodConfig,
    pools: dict[str, PoolFacts],
    secrets: set[str],
    operators: dict[str, bool],
) -> list[str]:
    """Every problem of the workload sections; `secrets` names the secret keys that are set."""
    issues = _check_image(image)
    for name, vol in volumes.items():
        issues += _check_volume(name, vol)
    for name, job in jobs.items():
        issues += _check_job(name, job, pools, volumes, secrets)
        needed = {"pytorch": "trainingOperator", "ray": "kuberay"}[job.framework]
        if not operators.get(needed, True):
            issues.append(
                f"{key('trainingJobs', name, 'framework')} = {job.framework!r}: needs "
                f"addons.{needed}, which is disabled"
            )
    if (jobs or dev_pod.enabled) and not image.enabled:
        issues.append(
            f"{key('image', 'enabled')} = false: trainingJobs and devPod run the image "
            "this stack builds; enable it"
        )
    return issues + _check_dev_pod(dev_pod, pools, volumes, secrets)
