"""What a training job's containers run: torchrun with this stack's trainer or the user's own
script (PyTorchJob, TrainJob), `trainer.ray_train` or the user's own entrypoint (RayJob), and
the environment contract every job gets from the stack.

Pure: a job's config and its target in, argv / command line / env out.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from . import pod_spec
from .config import TrainingJobConfig, VolumeConfig
from .config.artifacts import CHECKPOINTS_PREFIX
from .config.volume_throughput import volume_throughput_mbps

# torchrun exits 1 whatever its workers died of; trainer/launch.py runs it and exits with a code
# the operator's ExitCode policy can act on (trainer/exit_codes.py, docs/training-jobs.md).
LAUNCH = ["python", "-m", "trainer.launch"]
# Another image has no trainer package: plain torchrun (torch's console script), same arguments.
TORCHRUN = ["torchrun"]
# On EFA the container first checks that NCCL can use it (trainer/selftest.py, trainer/efa.py), so
# a pod whose EFA cannot initialise stops at start with the reason instead of training over TCP.
# As a node check its failure exits 201, retryable: the pod is recreated, maybe on another node
# (trainer/node_check.py), counted with the launcher's own failures.
EFA_CHECK = ["python", "-m", "trainer.selftest", "--level", "quick", "--expect-efa", "--node-check"]
CRASH_LOOP_OPTIONS = ("--backoff-limit=", "--checkpoint-dir=")
# The network check (trainer/netcheck.py) as torchrun's script: `netcheck: true` runs it before
# the trainer in the same processes ("--" then the trainer's options); `trainstack netcheck` alone.
NETCHECK = ["-m", "trainer.netcheck"]

# The environment contract (docs/training-jobs.md#your-own-workload): what any workload may rely on.
ENV_RUN_DIR = "TRAINSTACK_RUN_DIR"  # the job's own folder on its checkpoint volume
ENV_BUCKET = "TRAINSTACK_ARTIFACTS_BUCKET"  # the artifacts bucket (with `artifacts.enabled`)
ENV_CHECKPOINT_URI = "TRAINSTACK_CHECKPOINT_URI"  # s3://<bucket>/checkpoints/<job>
SHUTDOWN_MARGIN_S = 15  # of the pod's grace, for trainer.launch to exit with the ranks' code
# How long a node's torchrun keeps trying to reach node 0's c10d store before it gives up: the
# rendezvous' read_timeout (torch 2.13 torch/distributed/elastic/rendezvous/
# c10d_rendezvous_backend.py _create_tcp_store), 60 s by default. Node 0's pod can start many
# minutes after the others (its own node launching and registering, which Karpenter gives 15
# minutes, then the multi-GB image pull), and at 60 s each waiting pod failed, every failure
# counting towards backoffLimit as one without a new checkpoint. 30 minutes, as long as Kueue lets
# a job's pods take to become ready (kueue.py PODS_READY_TIMEOUT; a test keeps the two equal).
RDZV_READ_TIMEOUT_S = 1800


@dataclass(frozen=True)
class RankLayout:
    """How a kind's controller tells each pod's torchrun where it stands, and so what the command
    passes itself: the rendezvous endpoint (expanded by the kubelet from the pod's env) and
    whether --nnodes and --nproc-per-node are on the command line or read by torchrun from
    PET_NNODES and PET_NPROC_PER_NODE (torch 2.13 torch/distributed/argparse_util.py `env`: an
    option's default is PET_<OPTION>, which a command-line value would override)."""

    endpoint: str
    sizes_on_command_line: bool


# training-operator v1.9.3 (pkg/controller.v1/pytorch/envvar.go, master.go): MASTER_ADDR and
# MASTER_PORT name the master pod, PET_NNODES the node count (min:max for an elastic job).
PYTORCHJOB_LAYOUT = RankLayout("$(MASTER_ADDR):$(MASTER_PORT)", sizes_on_command_line=True)
# Kubeflow Trainer v2.2.1 (pkg/runtime/framework/plugins/torch/torch.go): PET_NNODES,
# PET_NPROC_PER_NODE (the TrainJob's trainer.numProcPerNode), PET_NODE_RANK, PET_MASTER_ADDR
# (`<trainjob>-node-0-0.<trainjob>`, node 0's pod) and PET_MASTER_PORT (29500). torchrun reads the
# sizes itself; the c10d endpoint is node 0, as a PyTorchJob's is its master.
TRAINJOB_LAYOUT = RankLayout("$(PET_MASTER_ADDR):$(PET_MASTER_PORT)", sizes_on_command_line=False)


def run_dir(job_name: str) -> str:
    return f"{pod_spec.CHECKPOINT_MOUNT}/{job_name}"


def checkpoint_dir(job_name: str) -> str:
    return f"{run_dir(job_name)}/checkpoints"


def checkpoint_uri(bucket: str, job_name: str) -> str:
    """Where a job's checkpoints go in the artifacts bucket: under the prefix its role may
    write (config/artifacts.py CHECKPOINTS_PREFIX), one folder per job."""
    return f"s3://{bucket}/{CHECKPOINTS_PREFIX}{job_name}"


def job_env(
    job_name: str, bucket: str | None, emf: Mapping[str, str] | None = None
) -> dict[str, str]:
    """`emf`: where the trainer sends its figures (observability.trainer_env), when the stack
    runs the CloudWatch agent; without it the trainer sends nothing."""
    env = {ENV_RUN_DIR: run_dir(job_name)}
    if bucket is not None:
        env[ENV_BUCKET] = bucket
        env[ENV_CHECKPOINT_URI] = checkpoint_uri(bucket, job_name)
    return {**env, **(emf or {})}


def trainer_args(
    job_name: str,
    job: TrainingJobConfig,
    upload: str | None = None,
    volume: VolumeConfig | None = None,
) -> list[str]:
    """The trainer's command line: checkpoints and metrics on the shared volume, per job, with
    `upload` (an s3:// URI) every checkpoint uploaded there too, and the volume's throughput,
    which the trainer's checkpoint budget is checked against (components/checkpoint_io.py)."""
    args = ["--preset", str(job.preset)]
    if job.max_steps is not None:
        args += ["--max-steps", str(job.max_steps)]
    args += [
        "--checkpoint.dir",
        checkpoint_dir(job_name),
        "--metrics.out-dir",
        f"{run_dir(job_name)}/metrics",
    ]
    if upload is not None:
        args += ["--checkpoint.upload", upload]
    mbps = volume_throughput_mbps(volume) if volume is not None else None
    if mbps is not None and "checkpoint.volume_throughput_mbps" not in job.args:
        args += ["--checkpoint.volume-throughput-mbps", f"{mbps:g}"]
    if "checkpoint.at_end" not in job.args:
        # A job keeps its last step (the trainer saves it only when asked: docs/trainer.md).
        args += ["--checkpoint.at-end", "true"]
    for path, value in job.args.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        args += [f"--{path.replace('_', '-')}", text]
    return args


def uploads(job: TrainingJobConfig, bucket: str | None) -> bool:
    """Whether the trainer uploads its checkpoints: with a bucket, unless the job says not to."""
    return bool(bucket) and job.uploads(True)


def _upload(job_name: str, job: TrainingJobConfig, bucket: str | None) -> str | None:
    return checkpoint_uri(bucket, job_name) if uploads(job, bucket) else None


def netcheck_args(*, expect_efa: bool, expected_gbps: float | None) -> list[str]:
    """trainer.netcheck's options for a job on a pool: EFA expected where the pods request it,
    the bandwidth the pool's instances publish (components/network_bandwidth.py)."""
    args = ["--expect-efa"] if expect_efa else []
    if expected_gbps is not None:
        args += ["--expected-gbps", f"{expected_gbps:g}"]
    return args


def torchrun_command(
    job_name: str,
    job: TrainingJobConfig,
    bucket: str | None = None,
    volume: VolumeConfig | None = None,
    grace_s: int | None = None,
    netcheck: list[str] | None = None,
    layout: RankLayout = PYTORCHJOB_LAYOUT,
) -> list[str]:
    """torchrun (through trainer.launch, which takes its arguments, in this stack's image) with
    the rank layout the kind's controller injects (`layout`), expanded by the kubelet
    (`$(VAR)`). Every job meets through c10d rendezvous, so a restarted pod rejoins its peers: a
    fixed PyTorchJob at the master pod, an elastic one at worker 0 with PET_NNODES=min:max, a
    TrainJob at its node 0.

    The training script is the trainer (`-m trainer ...`) or the job's own `command`: torchrun
    starts it once per GPU with RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR/PORT set, so a
    foreign script keeps the rendezvous, restarts and NCCL environment the trainer has.
    With `netcheck` (trainer.netcheck's options) the trainer's script runs behind the network
    check, which exits 5 (permanent, trainer/exit_codes.py) instead of training when it fails.
    `grace_s`, the pod's termination grace, bounds the trainer's shutdown (--shutdown-timeout)."""
    if job.elastic:
        endpoint, restarts = "$(PET_RDZV_ENDPOINT)", "$(PET_MAX_RESTARTS)"
    else:
        endpoint, restarts = layout.endpoint, str(job.max_restarts)
    if job.command is not None:
        script = list(job.command)
    else:
        upload = _upload(job_name, job, bucket)
        script = ["-m", "trainer", *trainer_args(job_name, job, upload, volume)]
        if netcheck is not None:
            script = [*NETCHECK, *netcheck, "--", *script[2:]]
    if job.image is None:
        # The operator does not count ExitCode recreations against runPolicy.backoffLimit
        # (kubeflow/trainer#2045); trainer.launch does, per pod, on the checkpoint volume: past
        # the limit without a new checkpoint it exits 4, permanent (trainer/crash_loop.py). A
        # command of its own that checkpoints elsewhere shows no progress there, so each of its
        # retryable failures counts.
        launcher = [
            *LAUNCH,
            f"--backoff-limit={job.backoff_limit}",
            f"--checkpoint-dir={checkpoint_dir(job_name)}",
        ]
        if grace_s is not None and job.command is None:
            # torchrun gives its workers --shutdown-timeout seconds after passing SIGTERM on
            # (default 30; torch 2.13 torch/distributed/run.py, launcher/api.py): the trainer's
            # save and upload need the pod's grace, less a moment for the launcher to exit. A
            # script of the user's keeps torchrun's default, as a foreign image does.
            launcher.append(f"--shutdown-timeout={grace_s - SHUTDOWN_MARGIN_S}")
    else:
        launcher = TORCHRUN
    sizes = ["--nnodes=$(PET_NNODES)", f"--nproc-per-node={job.gpus_per_node}"]
    return [
        *launcher,
        *(sizes if layout.sizes_on_command_line else []),
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={endpoint}",
        f"--rdzv-id={job_name}",
        f"--rdzv-conf=read_timeout={RDZV_READ_TIMEOUT_S}",
        f"--max-restarts={restarts}",
        *script,
    ]


def efa_checked(command: list[str]) -> list[str]:
    """`command` run only if the EFA check passes. Its words stay separate arguments ("$@"), so
    the kubelet's $(VAR) expansion is all they get: the shell never re-reads them. The check
    takes the launcher's crash-loop options, so its failures count against backoffLimit."""
    own: list[str] = []
    if command[: len(LAUNCH)] == LAUNCH:  # the launcher's options lead, before torchrun's
        for word in command[len(LAUNCH) :]:
            if not word.startswith(CRASH_LOOP_OPTIONS):
                break
            own.append(word)
    return ["/bin/sh", "-c", f'{shlex.join([*EFA_CHECK, *own])} && exec "$@"', "sh", *command]


def checks_efa(job: TrainingJobConfig, efa: bool) -> bool:
    """The EFA check runs where it exists: in this stack's image (trainer.selftest)."""
    return efa and job.image is None


def ray_entrypoint(
    job_name: str,
    job: TrainingJobConfig,
    *,
    efa: bool,
    bucket: str | None = None,
    volume: VolumeConfig | None = None,
) -> str:
    """The RayJob's entrypoint: the job's own, or the trainer under Ray Train, one worker per
    GPU (a trainer rank drives one device): nodes x GPUs workers."""
    if job.entrypoint is not None:
        return job.entrypoint
    cmd = [
        "python",
        "-m",
        "trainer.ray_train",
        "--num-workers",
        str(job.node_range[1] * job.gpus_per_node),
        "--gpus-per-worker",
        "1",
        "--max-failures",
        str(job.max_restarts),
        "--storage-path",
        f"{run_dir(job_name)}/ray",
        "--name",
        job_name,
        *(["--expect-efa"] if checks_efa(job, efa) else []),
        "--",
        *trainer_args(job_name, job, _upload(job_name, job, bucket), volume),
    ]
    return shlex.join(cmd)
