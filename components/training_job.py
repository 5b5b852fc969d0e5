"""TrainingJob: one `trainingJobs` entry as a PyTorchJob (torchrun), a RayJob (Ray Train) or a
TrainJob with its TrainingRuntime (torchrun under Kubeflow Trainer v2, components/trainjob.py).

`render_all()` is pure: config in, manifests out, so the objects are validated against the
upstream CRDs and the command is run locally by the tests. The component only declares them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from jobwatch.alarms import HUNG_FACTOR_ANNOTATION

from . import (
    checkpoint_io,
    job_contracts,
    network_bandwidth,
    pod_spec,
    queueing,
    trainjob,
    versions,
    wandb_env,
)
from .config import PodSize, PoolFacts, TrainingJobConfig, VolumeConfig, pod_size
from .config.wandb_config import WandbTarget
from .job_command import (
    PYTORCHJOB_LAYOUT,
    TRAINJOB_LAYOUT,
    RankLayout,
    checks_efa,
    efa_checked,
    job_env,
    netcheck_args,
    ray_entrypoint,
    torchrun_command,
    uploads,
)
from .scheduling import SYSTEM_LABEL

RESTART_POLICY = "ExitCode"
PYTORCH_PORT = 23456  # the training operator's default; it builds the master Service on it
# (apiVersion, kind) each `framework` renders as (a trainjob also renders its TrainingRuntime).
KINDS = {
    "pytorch": ("kubeflow.org/v1", "PyTorchJob"),
    "ray": ("ray.io/v1", "RayJob"),
    "trainjob": (trainjob.API_VERSION, trainjob.KIND),
}
# The Ray head only coordinates: no GPU, no EFA, no training work scheduled on it.
RAY_HEAD_SIZE = PodSize(gpus=0, efa=0, cpu="1", memory="4Gi", shm="1Gi")
# KubeRay v1.7.0's default submitter resources (controllers/ray/common/job.go,
# GetDefaultSubmitterContainer), kept when the stack supplies its own template.
SUBMITTER_RESOURCES = {
    "requests": {"cpu": "500m", "memory": "200Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}


@dataclass(frozen=True)
class JobTarget:
    """Where a job runs: its namespace, image (by digest: this stack's or the job's own), pool
    and checkpoint volume."""

    namespace: str
    image: str
    pool: PoolFacts
    volume_name: str
    volume: VolumeConfig
    # The ServiceAccount with the artifacts bucket's Pod Identity role (None: the default one).
    service_account: str | None = None
    # The artifacts bucket's name (None: no bucket): the trainer's checkpoint.upload, the env.
    artifacts_bucket: str | None = None
    # The ServiceAccount's Pod Identity association id, annotated on the pod templates.
    identity: str | None = None
    # The CloudWatch agent's endpoint for the trainer's figures (observability.trainer_env).
    emf_env: Mapping[str, str] = field(default_factory=dict)
    # Weights & Biases, when the stack holds its key (components/wandb_env.py); None: off.
    wandb: WandbTarget | None = None
    # Kueue's queue-name and priority labels and the hold gate (components/queueing.py): with a
    # queue named, Kueue decides when the job runs. Empty: the job starts unless suspended.
    queue_labels: Mapping[str, str] = field(default_factory=dict)
    queue_annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def queued(self) -> bool:
        return queueing.is_queued(dict(self.queue_labels))

    def suspend(self, job: TrainingJobConfig) -> bool:
        """The job's suspend flag as created: a queued job starts suspended and Kueue flips it
        (a held one waits on its gate instead); an unqueued one follows `suspend`."""
        return True if self.queued else job.suspend


def _gpu_pod_template(
    job_name: str,
    job: TrainingJobConfig,
    target: JobTarget,
    *,
    container: str,
    command: list[str] | None,
    ports: list[dict],
    role: str,
    grace_s: int,
) -> dict[str, Any]:
    """A pod on the job's GPU pool, sized to the smallest instance that fits it."""
    efa = job.uses_efa(target.pool)
    size = pod_size(
        target.pool, job.gpus_per_node, efa=efa, cpu=job.cpu, memory=job.memory, shm=job.shm_size
    )
    return _pod_template(
        job_name,
        job,
        target,
        container=container,
        command=command,
        ports=ports,
        size=size,
        efa=efa,
        placement=pod_spec.placement(target.pool, efa=efa),
        role=role,
        grace_s=grace_s,
    )


def _pod_template(
    job_name: str,
    job: TrainingJobConfig,
    target: JobTarget,
    *,
    container: str,
    command: list[str] | None,
    ports: list[dict],
    size: PodSize,
    efa: bool,
    placement: dict[str, Any],
    role: str,
    grace_s: int,
) -> dict[str, Any]:
    shm, shm_mount = pod_spec.shm_volume(size)
    ckpt, ckpt_mount = pod_spec.checkpoint_volume(target.volume_name, target.volume)
    env = pod_spec.training_env(
        job_name,
        efa=efa,
        nccl_debug=job.nccl_debug,
        hf_token=job.hf_token,
        extra={**job.env, **job_env(job_name, target.artifacts_bucket, target.emf_env)},
    )
    if target.wandb is not None and role in job_contracts.WANDB_ROLES:
        env += wandb_env.env(job_name, target.wandb)
    spec_container: dict[str, Any] = {
        "name": container,
        "image": target.image,
        "env": env,
        "resources": pod_spec.resources(size),
        "volumeMounts": [shm_mount, ckpt_mount],
        "ports": ports,
    }
    if command is not None:
        spec_container["command"] = command
    annotations = dict(pod_spec.DO_NOT_DISRUPT)
    if target.identity is not None:
        annotations[pod_spec.IDENTITY_ANNOTATION] = target.identity
    return {
        "metadata": {
            "labels": {
                "app.kubernetes.io/part-of": "trainstack",
                **job_contracts.role_labels(job_name, role),
            },
            "annotations": annotations,
        },
        # No pod of a job calls the Kubernetes API: torchrun meets its peers over c10d, Ray
        # over GCS, and KubeRay's autoscaler sidecar (the one Ray part that does need the API,
        # with its own service account) is not enabled (no enableInTreeAutoscaling).
        "spec": pod_spec.with_service_account(
            pod_spec.harden_pod(
                {
                    **placement,
                    # On SIGTERM the trainer saves and uploads, then exits 143: the grace is
                    # its checkpoint budget's (_grace_s).
                    "terminationGracePeriodSeconds": grace_s,
                    "containers": [spec_container],
                    "volumes": [shm, ckpt],
                }
            ),
            target.service_account,
        ),
    }


def _grace_s(job: TrainingJobConfig, target: JobTarget) -> int:
    """The pods' termination grace: a SIGTERM save and its upload (components/checkpoint_io.py)."""
    return checkpoint_io.grace_seconds(
        job, target.volume, uploads=uploads(job, target.artifacts_bucket)
    )


def _torchrun_command(
    job_name: str,
    job: TrainingJobConfig,
    target: JobTarget,
    grace_s: int,
    layout: RankLayout = PYTORCHJOB_LAYOUT,
) -> list[str]:
    """torchrun with this stack's trainer (or the job's script), behind the EFA check on EFA,
    with the rank layout of the kind's controller."""
    efa = job.uses_efa(target.pool)
    netcheck = None
    if job.netcheck:
        gbps = network_bandwidth.pool_gbps(target.pool, job.gpus_per_node)
        netcheck = netcheck_args(expect_efa=efa, expected_gbps=gbps)
    command = torchrun_command(
        job_name, job, target.artifacts_bucket, target.volume, grace_s, netcheck, layout
    )
    return efa_checked(command) if checks_efa(job, efa) else command


def render_pytorchjob(job_name: str, job: TrainingJobConfig, target: JobTarget) -> dict:
    # The operator requires the container to be named `pytorch`.
    grace_s = _grace_s(job, target)
    template = _gpu_pod_template(
        job_name,
        job,
        target,
        container="pytorch",
        command=_torchrun_command(job_name, job, target, grace_s),
        ports=[{"name": "pytorchjob-port", "containerPort": PYTORCH_PORT}],
        role=job_contracts.PYTORCH,
        grace_s=grace_s,
    )
    low, high = job.node_range

    def replica(count: int) -> dict:
        # ExitCode (kubeflow/trainer v1.9.3 pkg/controller.v1/common/pod.go): a pod that exits
        # 1-127 fails the job at once (bad config, non-finite loss), one that exits 128-255 is
        # deleted and recreated, and the trainer resumes from its newest checkpoint. The
        # operator sets the pod's own restartPolicy to Never (pkg/core/pod.go SetRestartPolicy).
        return {
            "replicas": count,
            "restartPolicy": RESTART_POLICY,
            "template": copy.deepcopy(template),
        }

    spec: dict[str, Any] = {"nprocPerNode": str(job.gpus_per_node)}
    if job.elastic:
        # Workers only; the operator points PET_RDZV_ENDPOINT at worker 0 and sets
        # PET_NNODES=min:max, so the job starts with what exists and grows as nodes arrive.
        spec["elasticPolicy"] = {
            "rdzvBackend": "c10d",
            "minReplicas": low,
            "maxReplicas": high,
            "maxRestarts": job.max_restarts,
        }
        spec["pytorchReplicaSpecs"] = {"Worker": replica(high)}
    else:
        spec["pytorchReplicaSpecs"] = {"Master": replica(1)}
        if high > 1:
            spec["pytorchReplicaSpecs"]["Worker"] = replica(high - 1)
    # runPolicy.suspend (kubeflow.org_pytorchjobs CRD, training-operator release-1.9): while true
    # the operator creates no pods (pkg/controller.v1/common/job.go).
    run_policy: dict[str, Any] = {
        "backoffLimit": job.backoff_limit,
        "cleanPodPolicy": job.clean_pod_policy,
        "ttlSecondsAfterFinished": job.ttl_seconds_after_finished,
        "suspend": target.suspend(job),
    }
    if job.active_deadline_seconds is not None:
        run_policy["activeDeadlineSeconds"] = job.active_deadline_seconds
    spec["runPolicy"] = run_policy
    return _object("pytorch", job_name, job, target, spec)


def submitter_template(job_name: str, target: JobTarget) -> dict[str, Any]:
    """The pod of the submitter Job KubeRay creates in K8sJobMode, hardened like the others.

    KubeRay v1.7.0 (rayjob_controller.go, getSubmitterTemplate/configureSubmitterContainer) uses
    this template as given, fills in the `ray job status/submit/logs` command of its first
    container when it has none, and adds RAY_DASHBOARD_ADDRESS/RAY_JOB_SUBMISSION_ID. That
    command waits for the dashboard with a python urllib probe and talks to the dashboard over
    HTTP (port 8265), never to the Kubernetes API: no token. Job pods must not restart Always.
    """
    return {
        "metadata": {
            "labels": {
                "app.kubernetes.io/part-of": "trainstack",
                **job_contracts.role_labels(job_name, job_contracts.RAY_SUBMITTER),
            }
        },
        "spec": pod_spec.harden_pod(
            {
                "nodeSelector": {SYSTEM_LABEL: "true"},
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "ray-job-submitter",
                        "image": target.image,
                        "resources": copy.deepcopy(SUBMITTER_RESOURCES),
                    }
                ],
            }
        ),
    }


def render_rayjob(job_name: str, job: TrainingJobConfig, target: JobTarget) -> dict:
    nodes = job.node_range[1]
    grace_s = _grace_s(job, target)
    worker = _gpu_pod_template(
        job_name,
        job,
        target,
        container="ray-worker",
        command=None,
        ports=[],
        role=job_contracts.RAY_WORKER,
        grace_s=grace_s,
    )
    head = _pod_template(
        job_name,
        job,
        target,
        container="ray-head",
        command=None,
        ports=[
            {"name": "gcs", "containerPort": 6379},
            {"name": "dashboard", "containerPort": 8265},
            {"name": "client", "containerPort": 10001},
        ],
        size=RAY_HEAD_SIZE,
        efa=False,
        placement={"nodeSelector": {SYSTEM_LABEL: "true"}},
        role=job_contracts.RAY_HEAD,
        grace_s=grace_s,
    )
    spec: dict[str, Any] = {
        "entrypoint": ray_entrypoint(
            job_name,
            job,
            efa=job.uses_efa(target.pool),
            bucket=target.artifacts_bucket,
            volume=target.volume,
        ),
        # KubeRay v1.7.0 (utils/validation.go ValidateRayJobSpec) allows `suspend` only with
        # shutdownAfterJobFinishes; a RayJob created suspended goes Initializing -> Suspended
        # before any RayCluster exists (rayjob_controller.go).
        "suspend": target.suspend(job),
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": job.ttl_seconds_after_finished,
        "backoffLimit": job.backoff_limit,
        "submissionMode": "K8sJobMode",
        "submitterPodTemplate": submitter_template(job_name, target),
        "rayClusterSpec": {
            # KubeRay v1.7.0 (ray-operator/controllers/ray/common/pod.go,
            # supportsUnifiedHealthCheck) gives Ray >= 2.53.0 an HTTP probe of /api/healthz;
            # without rayVersion it injects `wget ... | grep success` exec probes
            # (utils/constant.go BaseWgetHealthCommand), and the image has no wget: the pods
            # would never become Ready. This image's own Ray pin, read from its one source, or
            # the job's rayVersion for an image of its own (config/job_runs.py).
            "rayVersion": job.ray_version or versions.ray_version(),
            "headGroupSpec": {
                "rayStartParams": {"num-cpus": "0", "num-gpus": "0", "dashboard-host": "0.0.0.0"},
                "template": head,
            },
            "workerGroupSpecs": [
                {
                    "groupName": "gpu",
                    "replicas": nodes,
                    "minReplicas": nodes,
                    "maxReplicas": nodes,
                    "rayStartParams": {"num-gpus": str(job.gpus_per_node)},
                    "template": worker,
                }
            ],
        },
    }
    if job.active_deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = job.active_deadline_seconds
    return _object("ray", job_name, job, target, spec)


def _object(
    framework: str, job_name: str, job: TrainingJobConfig, target: JobTarget, spec: dict
) -> dict[str, Any]:
    api_version, kind = KINDS[framework]
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": _metadata(job_name, job, target),
        "spec": spec,
    }


def _metadata(job_name: str, job: TrainingJobConfig, target: JobTarget) -> dict[str, Any]:
    # `pulumi up` declares the job and returns; it does not wait for training to end.
    annotations = {"pulumi.com/skipAwait": "true"}
    if job.hung_factor is not None:
        # The job watcher's hung-job alarm reads it from the object (jobwatch/alarms.py); in
        # metadata, so changing it updates the job in place instead of replacing it.
        annotations[HUNG_FACTOR_ANNOTATION] = f"{job.hung_factor:g}"
    return {
        "name": job_name,
        "namespace": target.namespace,
        "labels": {
            "app.kubernetes.io/part-of": "trainstack",
            pod_spec.JOB_LABEL: job_name,
            **target.queue_labels,
        },
        "annotations": {**annotations, **target.queue_annotations},
    }


def render_trainjob(job_name: str, job: TrainingJobConfig, target: JobTarget) -> list[dict]:
    """The job's TrainingRuntime, whose pod is the PyTorchJob's (the same builders: command, env,
    volumes, EFA, placement, security contexts, grace) in the container the Trainer requires,
    and the TrainJob running it. The command leaves the rank layout to the PET_* variables the
    Trainer injects (job_command.TRAINJOB_LAYOUT); PYTHONUNBUFFERED, which the training
    operator sets on a PyTorchJob's pods and the Trainer does not, the stack sets here."""
    grace_s = _grace_s(job, target)
    template = _gpu_pod_template(
        job_name,
        job,
        target,
        container=trainjob.CONTAINER,
        command=_torchrun_command(job_name, job, target, grace_s, layout=TRAINJOB_LAYOUT),
        ports=[],  # the Trainer adds the c10d port (trainjob.MASTER_PORT) itself
        role=job_contracts.TRAINJOB,
        grace_s=grace_s,
    )
    template["spec"]["containers"][0]["env"].append({"name": "PYTHONUNBUFFERED", "value": "1"})
    nodes = job.node_range[1]
    spec = trainjob.runtime_spec(
        template, nodes=nodes, ttl_seconds_after_finished=job.ttl_seconds_after_finished
    )
    runtime_name = trainjob.runtime_name(job_name, spec)
    meta = _metadata(job_name, job, target)
    labels = {"app.kubernetes.io/part-of": "trainstack", pod_spec.JOB_LABEL: job_name}
    runtime = trainjob.render_runtime(runtime_name, target.namespace, spec, labels)
    train = {
        "apiVersion": trainjob.API_VERSION,
        "kind": trainjob.KIND,
        "metadata": meta,
        "spec": trainjob.trainjob_spec(
            runtime_name,
            nodes=nodes,
            procs_per_node=job.gpus_per_node,
            suspend=target.suspend(job),
            active_deadline_seconds=job.active_deadline_seconds,
        ),
    }
    return [runtime, train]


def render_all(job_name: str, job: TrainingJobConfig, target: JobTarget) -> list[dict[str, Any]]:
    """Every object of the job, the job object last (a TrainJob after its runtime)."""
    if job.framework == "trainjob":
        return render_trainjob(job_name, job, target)
    if job.framework == "ray":
        return [render_rayjob(job_name, job, target)]
    return [render_pytorchjob(job_name, job, target)]


def render(job_name: str, job: TrainingJobConfig, target: JobTarget) -> dict[str, Any]:
    """The job object: a PyTorchJob, RayJob or TrainJob."""
    return render_all(job_name, job, target)[-1]


@dataclass
class TrainingJobArgs:
    config: TrainingJobConfig
    namespace: str
    image: pulumi.Input[str]  # this stack's; a job with an `image` of its own runs that
    pool: PoolFacts
    volume_name: str
    volume: VolumeConfig
    provider: k8s.Provider
    depends_on: list[pulumi.Resource]
    service_account: str | None = None
    artifacts_bucket: pulumi.Input[str] | None = None
    # The Pod Identity association's id (with service_account): annotated on the pod templates.
    identity: pulumi.Input[str] | None = None
    emf_env: dict[str, str] = field(default_factory=dict)  # observability.trainer_env
    wandb: WandbTarget | None = None  # Weights & Biases, when the stack holds its key
    # components/queueing.py: job_labels and job_annotations.
    queue_labels: dict[str, str] = field(default_factory=dict)
    queue_annotations: dict[str, str] = field(default_factory=dict)


class TrainingJob(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: TrainingJobArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("trainstack:jobs:TrainingJob", name, None, opts)
        # The bucket's name is known only once it exists, like the image's digest: both are
        # rendered into the manifest (the trainer's --checkpoint.upload, the env) as Outputs.
        manifests = pulumi.Output.all(
            args.config.image or args.image, args.artifacts_bucket, args.identity
        ).apply(
            lambda values: render_all(
                name,
                args.config,
                JobTarget(
                    args.namespace,
                    values[0],
                    args.pool,
                    args.volume_name,
                    args.volume,
                    args.service_account,
                    values[1],
                    values[2],
                    emf_env=args.emf_env,
                    wandb=args.wandb,
                    queue_labels=args.queue_labels,
                    queue_annotations=args.queue_annotations,
                ),
            )
        )
        depends_on = list(args.depends_on)
        if args.config.framework == "trainjob":
            # The TrainJob's pods are its runtime's: the Trainer's webhook refuses a TrainJob
            # whose runtime does not exist. A new runtime (a new name: trainjob.runtime_name)
            # is created before the old TrainJob is replaced, and the old one deleted after.
            runtime = manifests[0]
            depends_on.append(
                k8s.apiextensions.CustomResource(
                    f"{name}-runtime",
                    api_version=trainjob.API_VERSION,
                    kind=trainjob.RUNTIME_KIND,
                    metadata=runtime["metadata"],
                    spec=runtime["spec"],
                    opts=pulumi.ResourceOptions(
                        parent=self, provider=args.provider, depends_on=args.depends_on
                    ),
                )
            )
        manifest = manifests[-1]
        api_version, kind = KINDS[args.config.framework]  # plain: they name the resource type
        self.job = k8s.apiextensions.CustomResource(
            name,
            api_version=api_version,
            kind=kind,
            metadata=manifest["metadata"],
            spec=manifest["spec"],
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                depends_on=depends_on,
                # A new size, image or option is a new run: replace the job (it resumes from
                # its checkpoints), since operators do not resize a running job's world.
                # Launching (suspend true -> false) is a replace too: the held job has no pods,
                # so deleting it loses nothing and the new one starts with a clean status.
                # Holding a running job the same way deletes its pods (SIGTERM, the trainer
                # saves within the grace period). A queued job's gate and queue name cannot be
                # changed in place either (queueing.REPLACE_ON).
                replace_on_changes=["spec", *queueing.REPLACE_ON],
                delete_before_replace=True,
                # Kueue flips a queued job's suspend (queueing.py): its value, not drift. An
                # in-place update (a new priority) then leaves the field out of the server-side
                # apply, as another manager owns it (pulumi-kubernetes provider/pkg/await/
                # await.go, pulumi/pulumi-kubernetes#2566), so it neither conflicts nor reverts.
                # And Kueue adds a runtime patch of its own (manager kueue.x-k8s.io/manager) to a
                # TrainJob it admits, with the flavor's nodeSelector and tolerations (kueue
                # v0.19.2 pkg/controller/jobs/trainjob): never the stack's to undo.
                ignore_changes=[
                    *([queueing.SUSPEND_FIELDS[kind]] if args.queue_labels else []),
                    *(["spec.runtimePatches"] if kind == trainjob.KIND else []),
                ]
                or None,
            ),
        )
        self.register_outputs({"kind": kind})
