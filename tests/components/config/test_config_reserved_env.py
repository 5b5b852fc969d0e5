"""A job's `env` and `command` may not set what the training operator, torchrun, Ray Train or the
stack set for each pod or worker (components/config/reserved_env.py)."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest
from job_support import SMALL_BATCH, errors, job, pod_of, render_job, stack

from components import config, pod_spec
from components.config import reserved_env

OWN = {"preset": None}


def job_issues(framework="pytorch", **fields) -> list[str]:
    if framework == "ray":
        fields = {"framework": "ray", "entrypoint": "python3 x.py", **OWN, **fields}
    return [i for i in errors(trainingJobs={"j": job(**fields)}) if ".env." in i or "command" in i]


# ------------------------------------------------------------------------------------ env


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("WORLD_SIZE", "set by the training operator on each pod and set by torchrun for each "
         "worker"),
        ("RANK", "set by the training operator on each pod and set by torchrun"),
        ("MASTER_ADDR", "set by the training operator on each pod"),
        ("MASTER_PORT", "set by the training operator on each pod"),
        ("LOCAL_RANK", "set by torchrun for each worker"),
        ("GROUP_RANK", "set by torchrun for each worker"),
        ("LOCAL_WORLD_SIZE", "set by torchrun for each worker"),
        ("PET_NNODES", "set by the training operator on each pod and read by torchrun as one "
         "of its own options"),
        ("PET_RDZV_ENDPOINT", "set by the training operator on each pod and read by torchrun"),
        ("PET_NO_PYTHON", "read by torchrun as one of its own options"),  # any PET_*
        ("TORCHELASTIC_MAX_RESTARTS", "set by torchrun for each worker"),
        ("PYTHONUNBUFFERED", "set by the training operator on each pod"),
        ("NCCL_DEBUG", "set by the stack; a value of the job's own would conflict with it; "
         "set ncclDebug"),
        ("NCCL_SOCKET_IFNAME", "set by the stack"),
        ("FI_PROVIDER", "set by the stack"),
        ("TRAINSTACK_RUN_DIR", "set by the stack"),
    ],
)  # fmt: skip
def test_env_the_operator_torchrun_or_the_stack_sets_is_refused_by_its_key(name, says):
    issues = job_issues(env={name: "1"})
    assert len(issues) == 1, issues
    assert issues[0].startswith(f"trainstack:trainingJobs.j.env.{name}: {says}")


def test_a_ray_job_is_refused_what_ray_train_sets_and_only_that():
    issues = job_issues("ray", env={"NODE_RANK": "0", "RANK": "0", "GROUP_RANK": "0"})
    assert [i.split(":")[1].strip() for i in issues] == [
        "trainingJobs.j.env.NODE_RANK",
        "trainingJobs.j.env.RANK",
    ]
    assert "set by Ray Train in each worker" in issues[0]


def test_env_of_the_jobs_own_is_accepted():
    # Tuning torchrun leaves alone (OMP_NUM_THREADS: run.py sets it only when unset), NCCL
    # settings the stack does not set, and a cache directory moved onto the volume (a
    # container's own env replaces the stack's cache_env, pod_spec.harden_pod).
    env = {
        "OMP_NUM_THREADS": "8",
        "NCCL_IB_DISABLE": "1",
        "HF_HOME": "/checkpoints/hf",
        "WANDB_PROJECT": "llama",
        "NODE_RANK": "0",  # Ray Train's, not set in a PyTorchJob
    }
    cfg = config.parse(stack(trainingJobs={"j": job(env=env)}))
    c = pod_of(render_job(cfg, "j"))["containers"][0]
    assert [e["value"] for e in c["env"] if e["name"] == "HF_HOME"] == ["/checkpoints/hf"]


# ------------------------------------------------- the table against what is really set


def _reserved(name: str, framework: str = "pytorch") -> bool:
    return bool(reserved_env.setters_of(name, framework))


@pytest.mark.parametrize("elastic", [False, True])
def test_every_variable_the_rendered_job_sets_or_expands_is_reserved(elastic):
    sizes = {"nodes": None, "minNodes": 1, "maxNodes": 2} if elastic else {"nodes": 2}
    j = job(nodePool="large", gpusPerNode=4, args=SMALL_BATCH, **sizes)
    cfg = config.parse(stack(trainingJobs={"j": j}))
    replica = "Worker" if elastic else "Master"
    c = pod_of(render_job(cfg, "j", bucket="b"), replica)["containers"][0]
    # What the stack puts in the container, less the cache dirs a job may move.
    names = {e["name"] for e in c["env"]} - set(pod_spec.cache_env())
    unreserved = sorted(n for n in names if not _reserved(n))
    assert unreserved == []
    # What the command expands: the operator's variables (kubelet $(VAR) expansion).
    expanded = set(re.findall(r"\$\(([A-Z_]+)\)", " ".join(c["command"])))
    assert expanded and all(_reserved(n) for n in expanded), expanded


def test_efa_variables_are_reserved_too():
    for name in ("FI_PROVIDER", "FI_EFA_FORK_SAFE"):
        assert _reserved(name) and _reserved(name, "ray")


# kubeflow/trainer v1.9.3 (not installed: Go), as pkg/controller.v1/pytorch/envvar.go, master.go
# and elastic.go name them.
OPERATOR_V1_9_3 = [
    "PYTHONUNBUFFERED", "MASTER_ADDR", "MASTER_PORT", "PET_MASTER_ADDR", "PET_MASTER_PORT",
    "WORLD_SIZE", "RANK", "PET_NODE_RANK", "PET_NPROC_PER_NODE", "PET_NNODES",
    "PET_RDZV_BACKEND", "PET_RDZV_ID", "PET_RDZV_CONF", "PET_RDZV_ENDPOINT", "PET_STANDALONE",
    "PET_MAX_RESTARTS",
]  # fmt: skip


def test_every_variable_the_pinned_operator_sets_is_reserved():
    setters = {n: reserved_env.setters_of(n, "pytorch") for n in OPERATOR_V1_9_3}
    assert [n for n, who in setters.items() if reserved_env.OPERATOR not in who] == []


def _source(package: str, relative: str) -> str:
    """An installed package's source file, found without importing the package."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations
    return (Path(list(spec.submodule_search_locations)[0]) / relative).read_text()


def test_every_variable_torchrun_gives_its_workers_is_reserved():
    # torch 2.13.0 (trainer/requirements.txt): the worker_env dict of
    # LocalElasticAgent._start_workers and the keys _set_local_rank_env adds.
    tree = ast.parse(_source("torch", "distributed/elastic/agent/server/local_elastic_agent.py"))
    keys: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            (isinstance(t, ast.Name) and t.id == "worker_env")
            or (isinstance(t, ast.Subscript) and getattr(t.value, "id", "") == "worker_env")
            for t in node.targets
        ):
            target = node.targets[0]
            if isinstance(node.value, ast.Dict):
                keys |= {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
            elif isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant):
                keys.add(target.slice.value)
    assert {"RANK", "LOCAL_RANK", "WORLD_SIZE", "TORCHELASTIC_RUN_ID"} <= keys
    # CUDA_VISIBLE_DEVICES and OMP_NUM_THREADS are the parent's, passed through when set.
    keys -= {"CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS"}
    assert sorted(k for k in keys if not _reserved(k)) == []


def test_every_variable_ray_train_sets_in_its_workers_is_reserved():
    # ray 2.60.0 (trainer/requirements-ray.txt) ray/train/torch/config.py: os.environ[...] = ...
    # in its functions, less the TPU ones (no TPU here).
    tree = ast.parse(_source("ray", "train/torch/config.py"))
    names = {
        n.targets[0].slice.value
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef) and "tpu" not in f.name
        for n in ast.walk(f)
        if isinstance(n, ast.Assign)
        and isinstance(n.targets[0], ast.Subscript)
        and ast.unparse(n.targets[0].value) == "os.environ"
        and isinstance(n.targets[0].slice, ast.Constant)
    }
    assert {"RANK", "LOCAL_RANK", "MASTER_ADDR", "NODE_RANK"} <= names
    assert sorted(n for n in names if not _reserved(n, "ray")) == []


# ----------------------------------------------------------------------------- command


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (["torchrun", "--nnodes=2", "train.py"], "'torchrun' is not a script"),
        (["-m", "torch.distributed.run", "train.py"], "'torch.distributed.run' is not a script"),
        (["python", "train.py"], "'python' is not a script"),
        (["/usr/bin/python3.12", "train.py"], "is not a script"),
        (["run.sh", "--lr", "1"], "torchrun runs its script with python"),
        (["bash", "-c", "python train.py"], "torchrun runs its script with python"),
        (["train.py", "--nnodes=4"], "'--nnodes=4' is torchrun's --nnodes, which the job sets "
         "from nodes or minNodes/maxNodes"),
        (["train.py", "--nproc_per_node", "4"], "torchrun's --nproc-per-node, which the job "
         "sets from gpusPerNode"),
        (["-m", "pkg.train", "--rdzv-endpoint=x:1"], "torchrun's --rdzv-endpoint"),
        (["train.py", "--max-restarts", "3"], "from maxRestarts"),
    ],
)  # fmt: skip
def test_a_command_that_launches_or_passes_torchruns_options_is_refused(command, says):
    issues = job_issues(command=command, **OWN)
    where = "trainstack:trainingJobs.j.command"
    assert any(i.startswith(where) and says in i for i in issues), issues


@pytest.mark.parametrize(
    "command",
    [
        ["train.py", "--lr", "1e-4"],
        ["-m", "mypkg.train", "--local-rank", "0", "--max-steps", "10"],
        ["scripts/pretrain.py", "--nodes-file", "x"],
    ],
)
def test_a_script_with_its_own_options_is_accepted(command):
    cfg = config.parse(stack(trainingJobs={"j": job(command=command, **OWN)}))
    assert cfg.training_jobs["j"].command == command
