"""What a job's `env` and `command` may not set: the variables the training operator, Kubeflow
Trainer v2, torchrun, Ray Train and the stack give each pod or worker, and torchrun's options the
job passes itself.

A second value of any of these breaks the run in a way that shows only on the cluster: a RANK or
WORLD_SIZE that disagrees with the rendezvous hangs or crashes the process group, a PET_* value
becomes one of torchrun's own options, and a name the stack already sets appears twice in the
container's env (the pinned PyTorchJob CRD declares a container's env a list map keyed by name,
so server-side apply refuses the duplicate). So config refuses them, naming the key, who sets it
and where that is written upstream.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import key

OPERATOR = "operator"
TRAINER_V2 = "trainer-v2"
STACK_FOR_OPERATOR = "stack-for-operator"
TORCHRUN = "torchrun"
TORCHRUN_OPTIONS = "torchrun-options"
RAY_TRAIN = "ray-train"
STACK = "stack"


@dataclass(frozen=True)
class Setter:
    frameworks: tuple[str, ...]  # the jobs it sets the variable in
    says: str  # what it does with the variable, for the message


SETTERS = {
    # kubeflow/trainer v1.9.3 pkg/controller.v1/pytorch/envvar.go (setPodEnv), master.go
    # (MasterEnvVarGenerator), elastic.go (ElasticEnvVarGenerator): appended to every container.
    OPERATOR: Setter(("pytorch",), "set by the training operator on each pod"),
    # kubeflow/trainer v2.2.1 pkg/runtime/framework/plugins/torch/torch.go (EnforceMLPolicy): on
    # the trainer container `node`; its webhook refuses a TrainJob whose trainer.env sets one
    # (constants.TorchRunReservedEnvNames).
    TRAINER_V2: Setter(("trainjob",), "set by Kubeflow Trainer on the trainer container"),
    # What the training operator sets on a PyTorchJob's pods and Trainer v2 does not: the stack
    # sets it on a TrainJob's (components/trainjob.py), so both kinds run with the same env.
    STACK_FOR_OPERATOR: Setter(("trainjob",), "set by the stack as the training operator does"),
    # pytorch/pytorch v2.13.0 torch/distributed/elastic/agent/server/local_elastic_agent.py
    # (_start_workers, _set_local_rank_env): the environment of each worker process it starts.
    TORCHRUN: Setter(("pytorch", "trainjob"), "set by torchrun for each worker"),
    # torch/distributed/argparse_util.py `env`: torchrun takes PET_<OPTION> as the default of
    # its --<option>, so any PET_* changes how the job's torchrun runs.
    TORCHRUN_OPTIONS: Setter(("pytorch", "trainjob"), "read by torchrun as one of its own options"),
    # ray 2.60.0 (trainer/requirements-ray.txt) python/ray/train/torch/config.py
    # (_set_torch_distributed_env_vars, _setup_torch_process_group): in each Ray Train worker.
    RAY_TRAIN: Setter(("ray",), "set by Ray Train in each worker"),
    # components/pod_spec.py training_env and components/job_command.py job_env: the stack's
    # NCCL/EFA/torch settings and its environment contract (docs/training-jobs.md).
    STACK: Setter(("pytorch", "ray", "trainjob"), "set by the stack"),
}

# The one table: each reserved name and who sets it.
RESERVED_ENV: dict[str, tuple[str, ...]] = {
    # The rank layout.
    "MASTER_ADDR": (OPERATOR, TORCHRUN, RAY_TRAIN),
    "MASTER_PORT": (OPERATOR, TORCHRUN, RAY_TRAIN),
    "WORLD_SIZE": (OPERATOR, TORCHRUN, RAY_TRAIN),
    "RANK": (OPERATOR, TORCHRUN, RAY_TRAIN),
    "LOCAL_RANK": (TORCHRUN, RAY_TRAIN),
    "LOCAL_WORLD_SIZE": (TORCHRUN, RAY_TRAIN),
    "GROUP_RANK": (TORCHRUN,),
    "GROUP_WORLD_SIZE": (TORCHRUN,),
    "ROLE_RANK": (TORCHRUN,),
    "ROLE_NAME": (TORCHRUN,),
    "ROLE_WORLD_SIZE": (TORCHRUN,),
    "NODE_RANK": (RAY_TRAIN,),
    "ACCELERATE_TORCH_DEVICE": (RAY_TRAIN,),
    # torchrun's options the operator sets (envvar.go, master.go, elastic.go), and the five
    # Trainer v2 sets (torch.go; pkg/constants/constants.go TorchEnv*).
    "PET_NNODES": (OPERATOR, TRAINER_V2),
    "PET_NODE_RANK": (OPERATOR, TRAINER_V2),
    "PET_NPROC_PER_NODE": (OPERATOR, TRAINER_V2),
    "PET_MASTER_ADDR": (OPERATOR, TRAINER_V2),
    "PET_MASTER_PORT": (OPERATOR, TRAINER_V2),
    "PET_RDZV_BACKEND": (OPERATOR,),
    "PET_RDZV_ENDPOINT": (OPERATOR,),
    "PET_RDZV_ID": (OPERATOR,),
    "PET_RDZV_CONF": (OPERATOR,),
    "PET_STANDALONE": (OPERATOR,),
    "PET_MAX_RESTARTS": (OPERATOR,),
    # envvar.go sets it to 1 on every container; the stack does on a TrainJob's.
    "PYTHONUNBUFFERED": (OPERATOR, STACK_FOR_OPERATOR),
    # The stack's own (pod_spec.training_env). HF_TOKEN is refused as a secret already (use
    # hfToken); the cache directories of pod_spec.cache_env are not here: a container's own env
    # replaces those (harden_pod), so pointing one at the volume is allowed.
    "JOB_NAME": (STACK,),
    "NCCL_DEBUG": (STACK,),
    "NCCL_SOCKET_IFNAME": (STACK,),
    "TORCH_NCCL_ASYNC_ERROR_HANDLING": (STACK,),
    "TORCH_NCCL_DUMP_ON_TIMEOUT": (STACK,),
    "PYTORCH_CUDA_ALLOC_CONF": (STACK,),
    "TOKENIZERS_PARALLELISM": (STACK,),
    "FI_PROVIDER": (STACK,),
    "FI_EFA_FORK_SAFE": (STACK,),
}
# Whole families: every PET_* is one of torchrun's options; the elastic agent passes
# TORCHELASTIC_* to each worker (local_elastic_agent.py, multiprocessing/api.py
# TORCHELASTIC_ERROR_FILE) and reads some as its own settings (launcher/api.py).
RESERVED_PREFIXES: dict[str, tuple[str, ...]] = {
    "PET_": (TORCHRUN_OPTIONS,),
    "TORCHELASTIC_": (TORCHRUN,),
    "TRAINSTACK_": (STACK,),
}
# What to set instead, where a field of the job does it.
INSTEAD = {
    "NCCL_DEBUG": "set ncclDebug",
    "TRAINSTACK_": "use another name (docs/training-jobs.md#your-own-workload)",
}


def setters_of(name: str, framework: str) -> tuple[str, ...]:
    """Who sets `name` in a job of `framework` (empty: the job may set it)."""
    found = RESERVED_ENV.get(name, ())
    for prefix, who in RESERVED_PREFIXES.items():
        if name.startswith(prefix):
            found = (*found, *who)
    return tuple(s for s in found if framework in SETTERS[s].frameworks)


def check_env(path: tuple, framework: str, env: dict[str, str]) -> list[str]:
    issues = []
    for name in env:
        who = setters_of(name, framework)
        if not who:
            continue
        prefix = next((p for p in RESERVED_PREFIXES if name.startswith(p)), name)
        fix = INSTEAD.get(name) or INSTEAD.get(prefix) or "remove it"
        issues.append(
            f"{key(*path, 'env', name)}: "
            + " and ".join(SETTERS[s].says for s in who)
            + f"; a value of the job's own would conflict with it; {fix}"
        )
    return issues


# torchrun's options that the job passes from its own fields (job_command.torchrun_command, and
# the operator's PET_* for the rest), as torch v2.13.0 torch/distributed/run.py get_args_parser
# spells them (each also with '_' for '-').
JOB_OPTIONS = {
    "nnodes": "nodes or minNodes/maxNodes",
    "nproc-per-node": "gpusPerNode",
    "node-rank": "the operator (PET_NODE_RANK)",
    "master-addr": "the operator (MASTER_ADDR)",
    "master-port": "the operator (MASTER_PORT)",
    "rdzv-backend": "the job (c10d)",
    "rdzv-endpoint": "the operator's master or worker 0",
    "rdzv-id": "the job's name",
    "rdzv-conf": "the job",
    "standalone": "the job (a c10d rendezvous)",
    "max-restarts": "maxRestarts",
}
# What starts a script and so cannot be the script torchrun starts: torchrun and its module
# (torch/distributed/run.py, launch.py), this stack's launcher, an interpreter (torchrun runs
# `python -u <script>` itself unless --no-python, which the job does not pass).
LAUNCHERS = ("torchrun", "torch.distributed.run", "torch.distributed.launch", "trainer.launch")
INTERPRETERS = ("python", "python3")
# Nor a shell script: torchrun would hand it to python (run.py: PYTHON_EXEC or sys.executable,
# `-u`, then the script).
SHELLS = ("sh", "bash")


def torchrun_option(arg: str) -> str | None:
    """`--nnodes=2`, `--nnodes`, `--nproc_per_node` -> the option's name if the job sets it."""
    if not arg.startswith("--"):
        return None
    name = arg[2:].split("=", 1)[0].replace("_", "-")
    return name if name in JOB_OPTIONS else None


def check_command(path: tuple, command: list[str]) -> list[str]:
    """A PyTorchJob's `command`: the script torchrun starts and its arguments. Not a launcher,
    and none of the torchrun options the job sets (after the script they would reach the
    script, not torchrun)."""
    where = key(*path, "command")
    module = len(command) > 1 and command[0] in ("-m", "--module")
    script = command[1] if module else command[0]
    base = script.rsplit("/", 1)[-1]
    issues = []
    if base in LAUNCHERS or base in INTERPRETERS or base.startswith("python3."):
        issues.append(
            f"{where} = {command!r}: {script!r} is not a script; the job runs torchrun itself, "
            'which starts the command once per GPU: give the script (["train.py", ...]) or '
            '["-m", "<module>", ...]'
        )
    elif not module and (base in SHELLS or base.endswith(".sh")):
        issues.append(
            f"{where} = {command!r}: torchrun runs its script with python, so {script!r} "
            "would fail in every worker; give a Python script or module"
        )
    for arg in command[2 if module else 1 :]:
        if name := torchrun_option(arg):
            issues.append(
                f"{where}: {arg!r} is torchrun's --{name}, which the job sets from "
                f"{JOB_OPTIONS[name]}; after the script it would reach the script, not "
                "torchrun; remove it"
            )
    return issues
