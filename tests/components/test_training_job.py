"""TrainingJob and DevPod rendering: schema-valid objects, the right placement and resources,
config errors before anything is declared, and a rendered PyTorchJob's own command and
environment run locally (GPUs mapped to CPU processes) to prove the job runs what it says."""

from __future__ import annotations

import copy
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from job_support import (
    ELASTIC_BATCH,
    IMAGE,
    SMALL_BATCH,
    env_of,
    errors,
    job,
    kubelet_expand,
    pod_of,
    rendered,
    rendered_trainjob,
    runtime_pod,
    stack,
)
from packaging.requirements import Requirement
from packaging.version import Version
from ports import free_port

from components import config, dev_pod, pod_spec, versions
from components.job_command import EFA_CHECK, LAUNCH
from components.training_job import JobTarget, render
from trainer import config as trainer_config
from trainer import ray_train
from trainstack.offline import schemas

ROOT = Path(__file__).resolve().parents[2]
# ------------------------------------------------------------------------------- PyTorchJob


@pytest.mark.usefixtures("pinned_crds")
@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"nodes": 1},
        {"nodes": None, "minNodes": 1, "maxNodes": 4, "args": ELASTIC_BATCH},
        {"nodePool": "large", "gpusPerNode": 4, "args": SMALL_BATCH},
        {"nodePool": "gpu-g5", "nodes": 2, "hfToken": True},
        {"framework": "ray", "nodePool": "large", "gpusPerNode": 4, "args": SMALL_BATCH},
    ],
)
def test_rendered_jobs_validate_against_the_crds(fields):
    secrets = {"hfToken": "hf_test"} if fields.get("hfToken") else None
    manifest = rendered(secrets=secrets, **fields)
    assert schemas.validate_object(manifest, "1.34") == []


@pytest.mark.usefixtures("pinned_crds")
def test_schema_check_would_catch_a_broken_job():
    manifest = rendered()
    pod_of(manifest)["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = "one"
    manifest["spec"]["runPolicy"]["cleanPodPolicy"] = 3
    assert len(schemas.validate_object(manifest, "1.34")) >= 1


@pytest.mark.parametrize(
    ("given", "mode"), [(True, "full"), (False, "none"), ("selective", "selective")]
)
def test_a_jobs_checkpointing_mode_reaches_the_trainer(given, mode):
    # A stack written when the option was a boolean keeps working: true/false mean full/none.
    m = rendered(args={"parallel.activation_checkpointing": given})
    command = pod_of(m)["containers"][0]["command"]
    args = command[command.index("trainer") + 1 :]
    assert trainer_config.from_args(args).parallel.activation_checkpointing == mode


def test_fixed_job_has_a_master_and_workers_running_torchrun_per_gpu():
    m = rendered(
        nodes=3,
        nodePool="large",
        gpusPerNode=4,
        args={"global_batch_size": 96, "micro_batch_size": 8, "data.num_shards": 48},
    )
    replicas = m["spec"]["pytorchReplicaSpecs"]
    assert {k: v["replicas"] for k, v in replicas.items()} == {"Master": 1, "Worker": 2}
    assert all(r["restartPolicy"] == "ExitCode" for r in replicas.values())
    assert "elasticPolicy" not in m["spec"]
    c = pod_of(m)["containers"][0]
    assert c["name"] == "pytorch" and c["image"] == IMAGE
    assert c["command"][:13] == [
        *LAUNCH,
        "--backoff-limit=3",  # runPolicy.backoffLimit, which the operator does not enforce
        "--checkpoint-dir=/checkpoints/j/checkpoints",  # the trainer's own, below
        # The pod's grace (the tiny preset's checkpoint budget: the 120 s floor) less 15 s.
        "--shutdown-timeout=105",
        "--nnodes=$(PET_NNODES)",
        "--nproc-per-node=4",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=$(MASTER_ADDR):$(MASTER_PORT)",
        "--rdzv-id=j",
        "--rdzv-conf=read_timeout=1800",  # node 0 may start minutes after this pod
        "--max-restarts=3",
    ]
    args = c["command"][c["command"].index("trainer") + 1 :]
    assert args[args.index("--checkpoint.dir") + 1] == "/checkpoints/j/checkpoints"
    assert {"--global-batch-size", "--micro-batch-size"} <= set(args)
    # The trainer saves its last step only when asked; a job asks (trainer/config_sections.py).
    assert args[args.index("--checkpoint.at-end") + 1] == "true"
    assert trainer_config.from_args(args).checkpoint.at_end is True
    assert m["spec"]["nprocPerNode"] == "4"
    assert m["spec"]["runPolicy"] == {
        "backoffLimit": 3,
        "cleanPodPolicy": "Running",
        "ttlSecondsAfterFinished": 86400,
        "suspend": True,
    }


def test_a_node_waits_for_node_0s_store_as_long_as_kueue_waits_for_the_pods():
    """torchrun's own parser and rendezvous parameters (torch 2.13 torch/distributed/run.py
    config_from_args; elastic/rendezvous/c10d_rendezvous_backend.py reads read_timeout, 60 s
    when unset) take the rendered read_timeout: a worker up before node 0 keeps trying for 30
    minutes, Kueue's waitForPodsReady timeout, instead of failing at 60 s. Measured with torch
    2.13 here: read_timeout=5 ends a connection to a store nobody serves "timed out after
    5000ms", and without it after 60000ms."""
    from torch.distributed.elastic.rendezvous import RendezvousParameters
    from torch.distributed.run import config_from_args, parse_args

    from components import kueue

    cmd = pod_of(rendered(nodes=2))["containers"][0]["command"]
    env = {"PET_NNODES": "2", "MASTER_ADDR": "j-master-0", "MASTER_PORT": "23456"}
    argv = [kubelet_expand(a, env) for a in cmd[cmd.index("--nnodes=$(PET_NNODES)") :]]
    launch, _, _ = config_from_args(parse_args(argv))
    params = RendezvousParameters(
        launch.rdzv_backend, launch.rdzv_endpoint, launch.run_id, 2, 2, **launch.rdzv_configs
    )
    assert params.get_as_int("read_timeout") == 1800
    assert kueue.PODS_READY_TIMEOUT == f"{1800 // 60}m"


def test_elastic_job_is_workers_only_with_c10d_between_min_and_max():
    m = rendered(nodes=None, minNodes=1, maxNodes=4, maxRestarts=5, args=ELASTIC_BATCH)
    assert m["spec"]["elasticPolicy"] == {
        "rdzvBackend": "c10d",
        "minReplicas": 1,
        "maxReplicas": 4,
        "maxRestarts": 5,
    }
    assert list(m["spec"]["pytorchReplicaSpecs"]) == ["Worker"]
    assert m["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 4
    cmd = pod_of(m, "Worker")["containers"][0]["command"]
    assert "--rdzv-endpoint=$(PET_RDZV_ENDPOINT)" in cmd
    assert "--max-restarts=$(PET_MAX_RESTARTS)" in cmd


def test_pod_lands_on_its_pool_with_gpu_resources_shm_and_volume():
    m = rendered(nodePool="large", gpusPerNode=4, args=SMALL_BATCH, nodes=2)
    pod = pod_of(m)
    assert pod["nodeSelector"] == {"karpenter.sh/nodepool": "large"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    res = pod["containers"][0]["resources"]
    assert res["requests"]["nvidia.com/gpu"] == res["limits"]["nvidia.com/gpu"] == 4
    # Smallest 4-GPU size of the pool is g5.12xlarge: 48 vCPU, 192 GiB; a quarter kept back.
    assert res["requests"]["cpu"] == "36" and res["requests"]["memory"] == "144Gi"
    assert "cpu" not in res["limits"]
    assert "vpc.amazonaws.com/efa" not in res["requests"]
    vols = {v["name"]: v for v in pod["volumes"]}
    assert vols["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "36Gi"}
    assert vols["checkpoints"]["persistentVolumeClaim"] == {"claimName": "ckpt"}
    mounts = {v["name"]: v["mountPath"] for v in pod["containers"][0]["volumeMounts"]}
    assert mounts == {
        "dshm": "/dev/shm",
        "checkpoints": "/checkpoints",
        "writable-home": "/home/trainer",
        "writable-tmp": "/tmp",
    }
    meta = m["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["metadata"]
    assert meta["annotations"]["karpenter.sh/do-not-disrupt"] == "true"


def test_node_group_pool_selects_by_pool_label():
    pod = pod_of(rendered(nodePool="gpu-g5"))
    assert pod["nodeSelector"] == {"trainstack.io/pool": "gpu-g5"}


def test_environment_and_secret_reference():
    c = pod_of(rendered(hfToken=True, secrets={"hfToken": "hf_secret_value"}))["containers"][0]
    env = env_of(c)
    assert env["NCCL_SOCKET_IFNAME"] == "^lo" and env["NCCL_DEBUG"] == "INFO"
    assert env["TORCH_NCCL_ASYNC_ERROR_HANDLING"] == "1"
    assert env["PYTORCH_CUDA_ALLOC_CONF"] == "expandable_segments:True"
    assert env["TOKENIZERS_PARALLELISM"] == "false" and env["JOB_NAME"] == "j"
    assert "FI_PROVIDER" not in env and "FI_EFA_USE_DEVICE_RDMA" not in env
    assert env["HF_TOKEN"] == {"secretKeyRef": {"name": "hf-token", "key": "token"}}
    assert "hf_secret_value" not in yaml.safe_dump(c)


def efa_stack(**jobs) -> dict:
    raw = yaml.safe_load((ROOT / "Pulumi.efa.yaml").read_text())["config"]
    data = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("trainstack:")}
    data["volumes"] = {"ckpt": {"type": "fsx"}}
    data["trainingJobs"] = jobs
    return data


@pytest.mark.usefixtures("pinned_crds")
def test_efa_pool_adds_interfaces_and_libfabric_env():
    cfg = config.parse(efa_stack(big=job(nodePool="efa", gpusPerNode=4, args=SMALL_BATCH)))
    j = cfg.training_jobs["big"]
    m = render(
        "big", j, JobTarget("training", IMAGE, cfg.pools()["efa"], "ckpt", cfg.volumes["ckpt"])
    )
    c = pod_of(m)["containers"][0]
    assert c["resources"]["requests"]["vpc.amazonaws.com/efa"] == 1
    assert c["resources"]["limits"]["vpc.amazonaws.com/efa"] == 1
    env = env_of(c)
    assert env["FI_PROVIDER"] == "efa" and env["FI_EFA_FORK_SAFE"] == "1"
    assert schemas.validate_object(m, "1.34") == []


def stack_jobs(stack_file: str) -> dict[str, dict]:
    """Each PyTorchJob of an example stack as the program renders it."""
    raw = yaml.safe_load((ROOT / stack_file).read_text())["config"]
    data = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("trainstack:")}
    cfg = config.parse(data)
    pools = cfg.pools()
    return {
        name: render(
            name,
            j,
            JobTarget(
                "training",
                IMAGE,
                pools[j.node_pool],
                j.checkpoint_volume,
                cfg.volumes[j.checkpoint_volume],
            ),
        )
        for name, j in cfg.training_jobs.items()
        if j.framework == "pytorch"
    }


def test_efa_jobs_check_efa_before_torchrun_and_others_do_not():
    efa_jobs, dev_jobs = stack_jobs("Pulumi.efa.yaml"), stack_jobs("Pulumi.dev.yaml")
    assert "llama-8b" in efa_jobs and dev_jobs
    for replica in efa_jobs["llama-8b"]["spec"]["pytorchReplicaSpecs"]:
        cmd = pod_of(efa_jobs["llama-8b"], replica)["containers"][0]["command"]
        assert cmd[:2] == ["/bin/sh", "-c"] and cmd[3] == "sh"
        # The check, then torchrun with its words as they were: "$@" keeps them unparsed.
        # The check is a node check (a failure exits 201, retryable) counted with the
        # launcher's own failures: it takes the launcher's crash-loop options.
        own = [w for w in cmd[7:9] if w.startswith(("--backoff-limit=", "--checkpoint-dir="))]
        assert len(own) == 2
        assert shlex.split(cmd[2]) == [*EFA_CHECK, *own, "&&", "exec", "$@"]
        assert {"--expect-efa", "--node-check"} <= set(EFA_CHECK) and cmd[4:7] == LAUNCH
        assert "$(PET_RDZV_ENDPOINT)" in " ".join(cmd[4:])
    for name, manifest in dev_jobs.items():
        for replica in manifest["spec"]["pytorchReplicaSpecs"]:
            cmd = pod_of(manifest, replica)["containers"][0]["command"]
            assert cmd[:3] == LAUNCH and "--expect-efa" not in " ".join(cmd), name
    # A job can turn EFA off on an EFA pool, and inherits it otherwise.
    cfg = config.parse(
        efa_stack(
            on=job(nodePool="efa", gpusPerNode=4, args=SMALL_BATCH),
            off=job(nodePool="efa", gpusPerNode=4, args=SMALL_BATCH, efa=False),
        )
    )
    target = JobTarget("training", IMAGE, cfg.pools()["efa"], "ckpt", cfg.volumes["ckpt"])
    assert (
        pod_of(render("on", cfg.training_jobs["on"], target))["containers"][0]["command"][0]
        == "/bin/sh"
    )
    assert (
        pod_of(render("off", cfg.training_jobs["off"], target))["containers"][0]["command"][:3]
        == LAUNCH
    )


def test_ray_jobs_on_efa_pools_check_efa_in_every_worker_and_others_do_not():
    # KubeRay starts the Ray pods itself, so the check travels in the entrypoint, which the
    # runner's own parser reads.
    cfg = config.parse(
        efa_stack(
            on=job(framework="ray", nodePool="efa", gpusPerNode=4, args=SMALL_BATCH),
            off=job(framework="ray", nodePool="efa", gpusPerNode=4, args=SMALL_BATCH, efa=False),
        )
    )
    target = JobTarget("training", IMAGE, cfg.pools()["efa"], "ckpt", cfg.volumes["ckpt"])

    def launch(name):
        argv = shlex.split(render(name, cfg.training_jobs[name], target)["spec"]["entrypoint"])
        return ray_train.parse_args(argv[3:])

    assert launch("on").expect_efa is True
    assert launch("off").expect_efa is False
    assert (
        rendered(framework="ray", nodePool="large", gpusPerNode=4, args=SMALL_BATCH)["spec"][
            "entrypoint"
        ].count("--expect-efa")
        == 0
    )


# ------------------------------------------------------------------------------------ RayJob


def test_ray_job_runs_the_trainer_through_ray_train_on_gpu_workers():
    m = rendered(framework="ray", nodePool="large", gpusPerNode=4, args=SMALL_BATCH, nodes=2)
    assert (m["apiVersion"], m["kind"]) == ("ray.io/v1", "RayJob")
    spec = m["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    # The entrypoint parses with the Ray runner's own CLI: one worker (rank) per GPU.
    argv = shlex.split(spec["entrypoint"])
    assert argv[:3] == ["python", "-m", "trainer.ray_train"]
    launch = ray_train.parse_args(argv[3:])
    assert (launch.num_workers, launch.gpus_per_worker) == (8, 1)
    assert ray_train.check_trainer_args(launch).checkpoint.dir == "/checkpoints/j/checkpoints"
    group = spec["rayClusterSpec"]["workerGroupSpecs"][0]
    assert group["replicas"] == group["minReplicas"] == group["maxReplicas"] == 2
    worker = group["template"]["spec"]
    res = worker["containers"][0]["resources"]
    assert res["requests"]["nvidia.com/gpu"] == res["limits"]["nvidia.com/gpu"] == 4
    assert worker["nodeSelector"] == {"karpenter.sh/nodepool": "large"}
    head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in head["containers"][0]["resources"]["requests"]
    assert head["nodeSelector"] == {"trainstack.io/system": "true"}
    assert {v["name"] for v in worker["volumes"]} == {
        "dshm",
        "checkpoints",
        "writable-home",
        "writable-tmp",
    }


@pytest.mark.usefixtures("pinned_crds")
def test_ray_head_is_sized_for_coordination_not_for_the_gpu_pool():
    """On an EFA pool the workers get EFA and a GPU-sized /dev/shm; the head, on a system node,
    gets neither: its /dev/shm stays inside its own 4Gi and it has no EFA settings."""
    cfg = config.parse(
        efa_stack(r=job(nodePool="efa", gpusPerNode=4, args=SMALL_BATCH, framework="ray"))
    )
    m = render(
        "r",
        cfg.training_jobs["r"],
        JobTarget("training", IMAGE, cfg.pools()["efa"], "ckpt", cfg.volumes["ckpt"]),
    )
    cluster = m["spec"]["rayClusterSpec"]
    head = cluster["headGroupSpec"]["template"]["spec"]
    worker = cluster["workerGroupSpecs"][0]["template"]["spec"]
    assert head["containers"][0]["resources"] == {
        "requests": {"cpu": "1", "memory": "4Gi"},
        "limits": {"memory": "4Gi"},
    }
    assert "tolerations" not in head
    shm = {v["name"]: v for v in head["volumes"]}["dshm"]["emptyDir"]["sizeLimit"]
    assert shm == "1Gi"
    assert "FI_PROVIDER" not in env_of(head["containers"][0])
    assert env_of(worker["containers"][0])["FI_PROVIDER"] == "efa"
    assert worker["containers"][0]["resources"]["limits"]["vpc.amazonaws.com/efa"] == 1
    assert schemas.validate_object(m, "1.34") == []


# KubeRay v1.7.0, ray-operator/controllers/ray/common/pod.go supportsUnifiedHealthCheck: from this
# Ray release on, the injected probes are an HTTP GET; below it (or with no rayVersion, which
# fails to parse) they are `wget ... | grep success` exec probes (utils/constant.go), and the
# trainer image has no wget.
KUBERAY_HTTP_PROBE_MIN_RAY = Version("2.53.0")


def test_ray_job_declares_the_images_ray_version_so_kuberay_probes_over_http():
    pin = next(
        Requirement(line)
        for line in (ROOT / "trainer" / "requirements-ray.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    (pinned,) = [s.version for s in pin.specifier]
    m = rendered(framework="ray", nodePool="large", gpusPerNode=4, args=SMALL_BATCH)
    declared = m["spec"]["rayClusterSpec"]["rayVersion"]
    assert declared == pinned
    # KubeRay reads it with k8s.io/apimachinery version.ParseGeneric: dotted numbers.
    assert re.fullmatch(r"\d+\.\d+\.\d+", declared)
    assert Version(declared) >= KUBERAY_HTTP_PROBE_MIN_RAY
    assert schemas.validate_object(m, "1.34") == []


def test_ray_version_is_read_from_the_pin_at_render_time(tmp_path, monkeypatch):
    reqs = tmp_path / "requirements-ray.txt"
    monkeypatch.setattr(versions, "RAY_REQUIREMENTS", reqs)
    versions.ray_version.cache_clear()
    try:
        reqs.write_text("# comment\nray[default,train]==2.99.1  # pinned\n")
        m = rendered(framework="ray", nodePool="large", gpusPerNode=4, args=SMALL_BATCH)
        assert m["spec"]["rayClusterSpec"]["rayVersion"] == "2.99.1"
        versions.ray_version.cache_clear()
        reqs.write_text("ray[default,train]>=2.53\n")
        with pytest.raises(ValueError, match="pin ray to one release"):
            versions.ray_version()
    finally:
        versions.ray_version.cache_clear()


# --------------------------------------------------------------------------------- suspend


def _paths(value, prefix=()):
    """Every leaf of a manifest by its path."""
    if isinstance(value, dict):
        return {p: v for k, sub in value.items() for p, v in _paths(sub, (*prefix, k)).items()}
    if isinstance(value, list):
        return {p: v for i, sub in enumerate(value) for p, v in _paths(sub, (*prefix, i)).items()}
    return {prefix: value}


@pytest.mark.parametrize(
    "framework, where",
    [
        # kubeflow.org_pytorchjobs.yaml (release-1.9) and ray.io_rayjobs.yaml (v1.7.0).
        ("pytorch", ("spec", "runPolicy", "suspend")),
        ("ray", ("spec", "suspend")),
    ],
)
def test_jobs_start_suspended_unless_the_stack_says_false(framework, where):
    fields = {"framework": framework, "nodePool": "large", "gpusPerNode": 4, "args": SMALL_BATCH}
    waiting, launched = rendered(**fields), rendered(suspend=False, **fields)
    for manifest, suspended in ((waiting, True), (launched, False)):
        assert _paths(manifest)[where] is suspended
        assert schemas.validate_object(manifest, "1.34") == []
    # Launching changes that field alone: the replace that launches it runs the declared job.
    before, after = _paths(waiting), _paths(launched)
    assert {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)} == {where}
    if framework == "ray":
        # KubeRay v1.7.0 utils/validation.go: a suspended RayJob must shut down after its job.
        assert waiting["spec"]["shutdownAfterJobFinishes"] is True


# ----------------------------------------------------------------------- validation errors


@pytest.mark.parametrize(
    "fields, expected",
    [
        (
            {"gpusPerNode": 2, "nodePool": "gpu-g5"},
            r"trainingJobs\.j\.gpusPerNode = 2: pool 'gpu-g5' has at most 1 GPUs per node",
        ),
        ({"nodes": 5}, r"trainingJobs\.j\.nodes = 5: pool 'small' allows at most 4 nodes"),
        (
            {
                "nodes": 3,
                "nodePool": "large",
                "gpusPerNode": 4,
                "args": {"global_batch_size": 96, "micro_batch_size": 8, "data.num_shards": 48},
            },
            None,
        ),
        ({"efa": True}, r"trainingJobs\.j\.efa = true: pool 'small' has no EFA"),
        (
            {"nodePool": "nope"},
            r"trainingJobs\.j\.nodePool = 'nope': no such GPU pool; known: "
            r"gpu-g4dn, gpu-g5, large, small",
        ),
        (
            {"checkpointVolume": "scratch"},
            r"checkpointVolume = 'scratch': an EBS volume attaches to one node, but this job spans 2",
        ),
        ({"checkpointVolume": None}, r"checkpointVolume: missing; without a volume a restarted"),
        ({"hfToken": True}, r"hfToken = true: no token; run `pulumi config set --secret"),
        # notifications.alarms.hungFactor's bounds (jobwatch/alarms.py hung_rule reads it).
        ({"hungFactor": 1}, r"trainingJobs\.j\.hungFactor = 1: .*greater than or equal to 2"),
        ({"hungFactor": 5000}, r"trainingJobs\.j\.hungFactor = 5000: .*less than or equal to 1000"),
        ({"env": {"WANDB_API_KEY": "x"}}, r"env\.WANDB_API_KEY: looks like a secret"),
        ({"args": {"checkpoint.dir": "/tmp"}}, r"args\.checkpoint\.dir: set by the job"),
        ({"args": {"optim.lr": -1}}, r"trainingJobs\.j\.args: optim\.lr"),
        (
            {"args": {"parallel.activation_checkpointing": "maybe"}},
            r"trainingJobs\.j\.args: parallel\.activation_checkpointing='maybe': must be one of "
            r"auto, none, full, selective",
        ),
        # A build error that happens to say "ranks" is reported as it is, not a crash.
        (
            {"args": {"data.source": "ranks"}},
            r"trainingJobs\.j\.args: data\.source='ranks': "
            r"Input should be",
        ),
        (
            {"framework": "ray", "nodes": 1, "checkpointVolume": "scratch"},
            r"checkpointVolume = 'scratch': an EBS volume attaches to one node, but its Ray head and "
            r"GPU workers run on different nodes",
        ),
        (
            {"nodes": None, "minNodes": 1, "maxNodes": 3, "args": {"global_batch_size": 8}},
            r"at 2 nodes",
        ),
        ({"minNodes": 1, "maxNodes": 2}, r"set either nodes .* or minNodes/maxNodes"),
        (
            {"framework": "ray", "nodes": None, "minNodes": 1, "maxNodes": 2},
            r"framework\.? = 'ray': elastic",
        ),
        ({"cpu": "16"}, r"cpu = '16': g5.xlarge has 4 vCPUs"),
    ],
)
def test_config_errors_name_the_key_and_the_fix(fields, expected):
    data = stack(trainingJobs={"j": job(**fields)})
    if expected is None:  # large: maxNodes 16, maxGpus 64 -> 3 x 4 fits
        config.parse(data)
        return
    with pytest.raises(config.ConfigError) as e:
        config.parse(data)
    assert any(re.search(expected, i) for i in e.value.issues), e.value.issues


def test_job_beyond_the_pools_gpu_limit():
    issues = errors(
        trainingJobs={"j": job(nodePool="large", nodes=16, gpusPerNode=8, args=SMALL_BATCH)}
    )
    assert any("16 x 8 GPUs is above the 64 GPUs pool 'large' allows" in i for i in issues)


def test_kebab_and_snake_option_paths_are_one_option():
    cfg = config.parse(stack(trainingJobs={"j": job(args={"data.num-shards": 8})}))
    assert cfg.training_jobs["j"].args == {"data.num_shards": 8}


def test_plain_secret_values_in_errors_are_never_echoed():
    issues = errors(hfToken={"not": "a string hf_leak"})
    assert not any("hf_leak" in i for i in issues)


# --------------------------------------------------------------------------------- dev pod


def dev_cfg(**fields):
    data = stack(
        devPod={"enabled": True, "nodePool": "small", **fields},
        devPodSshKeys="ssh-ed25519 AAAAC3Nz test",
    )
    return config.parse(data)


def test_dev_pod_is_port_forward_only_by_default_and_validates():
    cfg = dev_cfg()
    pod = dev_pod.render_pod(
        cfg.dev_pod, namespace="training", image=IMAGE, pool=cfg.pools()["small"]
    )
    assert schemas.validate_object(pod, "1.34") == []
    assert dev_pod.render_load_balancer(cfg.dev_pod, "training") is None
    c = pod["spec"]["containers"][0]
    assert {p["containerPort"] for p in c["ports"]} == {2222, 8888}
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    keys = next(v for v in pod["spec"]["volumes"] if v["name"] == "ssh-keys")
    assert keys["secret"]["secretName"] == dev_pod.SSH_SECRET
    assert "ssh-ed25519" not in yaml.safe_dump(pod)
    script = c["command"][2]
    assert "PasswordAuthentication=no" in script and "-p 2222" in script
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def test_dev_pod_load_balancer_only_with_an_allow_list():
    cfg = dev_cfg(loadBalancerCidrs=["198.51.100.0/24"])
    svc = dev_pod.render_load_balancer(cfg.dev_pod, "training")
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["spec"]["loadBalancerSourceRanges"] == ["198.51.100.0/24"]
    assert schemas.validate_object(svc, "1.34") == []
    with pytest.raises(config.ConfigError, match="opens the pod to the whole internet"):
        dev_cfg(loadBalancerCidrs=["0.0.0.0/0"])


def test_dev_pod_ssh_needs_the_key_secret():
    with pytest.raises(config.ConfigError, match="devPodSshKeys"):
        config.parse(stack(devPod={"enabled": True, "nodePool": "small"}))


def test_pvc_and_secret_validate():
    cfg = config.parse(stack())
    for name, vol in cfg.volumes.items():
        pvc = pod_spec.render_pvc(name, vol, "training")
        assert schemas.validate_object(pvc, "1.34") == []
    assert pod_spec.render_pvc("ckpt", cfg.volumes["ckpt"], "t")["spec"]["accessModes"] == [
        "ReadWriteMany"
    ]
    assert pod_spec.render_pvc("s", cfg.volumes["scratch"], "t")["spec"]["accessModes"] == [
        "ReadWriteOnce"
    ]
    secret = pod_spec.render_secret("hf-token", "training", {"token": "x"})
    assert schemas.validate_object(secret, "1.34") == []


# ------------------------------------------------------- the job runs what it says it runs


def _as_uid(uid: int, argv: list[str]) -> list[str]:
    """`argv` run as `uid` with no supplementary groups (util-linux setpriv). It keeps one
    capability, CAP_DAC_READ_SEARCH, which lets it read and traverse what root's mode bits hide
    (this machine's Python lives under /root, mode 700) and grants no write: every write is
    still judged by the mode bits, as in the pod, whose image files are world-readable anyway."""
    return [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=+dac_read_search",
        "--ambient-caps=+dac_read_search",
        *argv,
    ]


def _can_write(path: Path, uid: int) -> bool:
    probe = path / f".uid{uid}-probe"
    code = f"open({str(probe)!r}, 'w').close()"
    proc = subprocess.run(_as_uid(uid, [sys.executable, "-c", code]), capture_output=True)
    probe.unlink(missing_ok=True)
    return proc.returncode == 0


# The layout each controller gives the first pod of a 1-node job of 2 "GPUs": the training
# operator's (kubeflow/trainer v1.9.3 pkg/controller.v1/pytorch/envvar.go setPodEnv, master.go)
# and Kubeflow Trainer v2.2.1's (pkg/runtime/framework/plugins/torch/torch.go EnforceMLPolicy,
# with trainer.numProcPerNode; PET_NODE_RANK is the Job completion index, PET_MASTER_ADDR node 0's
# pod, here this machine).
def operator_env(port: int) -> dict[str, str]:
    return {
        "PYTHONUNBUFFERED": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "WORLD_SIZE": "1",
        "RANK": "0",
        "PET_NODE_RANK": "0",
        "PET_NPROC_PER_NODE": "2",
        "PET_NNODES": "1",
    }


def trainer_v2_env(port: int) -> dict[str, str]:
    return {
        "PET_NNODES": "1",
        "PET_NPROC_PER_NODE": "2",
        "PET_NODE_RANK": "0",
        "PET_MASTER_ADDR": "127.0.0.1",
        "PET_MASTER_PORT": str(port),
    }


LOCAL_JOB = {
    "name": "local",
    "nodes": 1,
    "gpusPerNode": 2,
    "preset": "tiny",
    "maxSteps": 4,
    "args": {"checkpoint.interval": 2, "metrics.log_interval": 1, "metrics.plot": False},
}


def _torchrun_sees(command: list[str], env: dict[str, str], monkeypatch) -> dict:
    """What trainer.launch and torchrun (torch 2.13 torch/distributed/run.py parse_args, whose
    options default to PET_<OPTION>: argparse_util.env) make of a container's command under
    `env`, as the kubelet expands it."""
    from torch.distributed import run as torchrun

    from trainer import launch

    argv = [kubelet_expand(a, env) for a in command]
    assert argv[:3] == LAUNCH and not any("$(" in a for a in argv), argv
    own, rest = launch.split_args(argv[3:])
    with monkeypatch.context() as m:
        for name in [k for k in os.environ if k.startswith("PET_")]:
            m.delenv(name)
        for name, value in env.items():
            m.setenv(name, value)
        args = torchrun.parse_args(rest)
    keys = ("nnodes", "nproc_per_node", "rdzv_backend", "rdzv_endpoint", "rdzv_id")
    keys += ("max_restarts", "training_script", "training_script_args")
    return {"launcher": vars(own), **{k: getattr(args, k) for k in keys}}


def test_a_trainjob_runs_the_pytorchjobs_command_and_env_under_the_trainers_layout(monkeypatch):
    """The TrainJob's node container (its runtime's) and the PyTorchJob's master container of
    the same job: the same env but for PYTHONUNBUFFERED, which the stack sets where the training
    operator would; no PET_* of its own (the Trainer's webhook refuses them); and torchrun,
    reading the Trainer's PET_* where the PyTorchJob's command passes options, starts the same
    run. The local run below then runs the TrainJob's command."""
    runtime, trainjob = rendered_trainjob(**LOCAL_JOB)
    node = runtime_pod(runtime)["spec"]["containers"][0]
    master = pod_of(rendered(**LOCAL_JOB))["containers"][0]
    assert env_of(node) == {**env_of(master), "PYTHONUNBUFFERED": "1"}
    assert not [e for e in env_of(node) if e.startswith("PET_")]
    sizes = ("--nnodes", "--nproc-per-node", "--node-rank", "--master-addr", "--master-port")
    assert not [a for a in node["command"] if a.startswith(sizes)]
    assert trainjob["spec"]["trainer"] == {"numNodes": 1, "numProcPerNode": 2}
    v1, v2 = operator_env(23456), trainer_v2_env(29500)
    seen = _torchrun_sees(node["command"], v2, monkeypatch)
    assert (seen["nnodes"], seen["nproc_per_node"]) == ("1", "2")  # the Trainer's PET_*
    assert seen["rdzv_endpoint"] == "127.0.0.1:29500"
    pytorchjob = _torchrun_sees(master["command"], v1, monkeypatch)
    assert {**seen, "rdzv_endpoint": "-"} == {**pytorchjob, "rdzv_endpoint": "-"}


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"),
    reason="needs root and setpriv to run the job as the image's uid",
)
def test_rendered_trainjob_command_trains_and_checkpoints_on_its_volume(tmp_path):
    """The command of the TrainJob's runtime, as the image's uid, under its env plus the PET_*
    the Trainer injects (the test above holds it to the PyTorchJob's), with the source tree and
    the venv read-only: only the pod's emptyDirs (HOME, /tmp, remapped to fresh dirs via the
    rendered env) and the checkpoint volume are writable, as under readOnlyRootFilesystem. Two
    ranks from PET_NPROC_PER_NODE, which the command does not pass: torchrun read it."""
    uid = pod_spec.TRAINER_UID
    # uid 1000 must get this interpreter's venv, and torchrun starts its ranks with
    # sys.executable, so uid 1000 must be able to exec it too (see _as_uid).
    code = (
        "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import torch'], "
        "check=True); print(sys.prefix)"
    )
    probe = subprocess.run(
        _as_uid(uid, [sys.executable, "-c", code]), capture_output=True, text=True, cwd="/"
    )
    if probe.returncode != 0 or probe.stdout.strip() != sys.prefix:
        pytest.skip(
            f"uid {uid} cannot execute {sys.executable} (its base interpreter lives "
            f"in a directory only root may enter): {probe.stderr[-200:]}"
        )
    assert not _can_write(ROOT, uid) and not _can_write(ROOT / "trainer", uid)
    assert not _can_write(Path(sys.prefix), uid)
    # One node, two "GPUs" -> two CPU ranks; a tiny model, so it runs in seconds.
    runtime, _ = rendered_trainjob(**LOCAL_JOB)
    pod = runtime_pod(runtime)["spec"]
    c = copy.deepcopy(pod["containers"][0])
    assert pod["securityContext"]["runAsUser"] == uid
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    sandbox = tmp_path / "pod"  # everything uid 1000 may write, and nothing else
    sandbox.mkdir()
    writable = {}  # mount path in the pod -> the directory standing for its volume here
    for mnt in c["volumeMounts"]:
        if mnt["mountPath"] == "/dev/shm":
            continue  # the host's /dev/shm stands for the memory emptyDir
        writable[mnt["mountPath"]] = sandbox / mnt["name"]
        writable[mnt["mountPath"]].mkdir()
    for d in [sandbox, *writable.values()]:
        os.chown(d, uid, uid)
    os.chmod(tmp_path, 0o755)

    def local(value: str) -> str:
        if value.startswith("--") and "=" in value:  # the launcher's --checkpoint-dir=...
            flag, _, path = value.partition("=")
            return f"{flag}={local(path)}"
        for mount, d in sorted(writable.items(), key=lambda kv: -len(kv[0])):
            if value == mount or value.startswith(mount + "/"):
                return str(d) + value[len(mount) :]
        return value

    container_env = {e["name"]: local(e["value"]) for e in c["env"] if "value" in e}
    for key in ("HOME", "TMPDIR", "HF_HOME", "TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR"):
        assert Path(container_env[key]).is_relative_to(sandbox), key
    env = {**container_env, **trainer_v2_env(free_port())}
    argv = [local(kubelet_expand(a, env)) for a in c["command"]]
    assert not any("$(" in a for a in argv), argv
    assert argv[:3] == LAUNCH
    argv[0] = sys.executable  # the image's `python`
    run_env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "RANK",
            "LOCAL_RANK",
            "WORLD_SIZE",
            "MASTER_ADDR",
            "MASTER_PORT",
            "TMP",
            "TEMP",
            "XDG_RUNTIME_DIR",
        )
        and not k.startswith("PET_")
    }
    run_env.update(env, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))  # the image's PYTHONPATH
    # cwd: the image's WORKDIR is read-only in the pod, so a read-only dir here too.
    proc = subprocess.run(
        _as_uid(uid, argv), cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    volume = writable[pod_spec.CHECKPOINT_MOUNT]
    ckpts = sorted(
        p.name for p in (volume / "local" / "checkpoints").iterdir() if p.name.startswith("step_")
    )
    assert ckpts == ["step_00000002", "step_00000004"]
    summary = yaml.safe_load((volume / "local" / "metrics" / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert not list(ROOT.rglob(".uid*-probe"))


def test_rendered_efa_command_stops_before_torchrun_when_efa_cannot_work(tmp_path):
    """The EFA job's own command on a machine without EFA: the check fails, says why, exits
    201 (the node's fault: the pod is recreated) and torchrun never starts; the one thing
    written to the volume is the pod's crash-loop record (trainer/node_check.py)."""
    cfg = config.parse(
        efa_stack(big=job(nodePool="efa", nodes=1, gpusPerNode=2, preset="tiny", maxSteps=2))
    )
    m = render(
        "big",
        cfg.training_jobs["big"],
        JobTarget("training", IMAGE, cfg.pools()["efa"], "ckpt", cfg.volumes["ckpt"]),
    )
    c = pod_of(m)["containers"][0]
    operator_env = {"PET_NNODES": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}
    env = {e["name"]: e["value"] for e in c["env"] if "value" in e}
    argv = [kubelet_expand(a, {**env, **operator_env}) for a in c["command"]]
    volume = tmp_path / "volume"
    mount = re.compile(rf"(^|[=\s]){re.escape(pod_spec.CHECKPOINT_MOUNT)}/")
    argv = [mount.sub(rf"\g<1>{volume}/", a) for a in argv]
    run_env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    run_env.update(
        {**env, **operator_env},
        PYTHONPATH=str(ROOT),  # the image's PYTHONPATH
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )
    proc = subprocess.run(
        argv, cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 201, proc.stderr[-2000:]
    assert "FAIL efa" in proc.stderr and "libfabric" in proc.stderr
    assert "node check failed" in proc.stderr and "torchrun" not in proc.stderr
    written = [p.relative_to(volume).as_posix() for p in volume.rglob("*") if p.is_file()]
    assert written == [f"big/checkpoints/.restarts/{socket.gethostname()}.json"]


# ------------------------------------------------------- restricted pods, network policies


def _pod_specs() -> list[dict]:
    ray = rendered(framework="ray", nodePool="large", gpusPerNode=4, args=SMALL_BATCH)["spec"]
    cfg = dev_cfg()
    return [
        pod_of(rendered(), "Master"),
        pod_of(rendered(), "Worker"),
        ray["rayClusterSpec"]["headGroupSpec"]["template"]["spec"],
        ray["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"],
        ray["submitterPodTemplate"]["spec"],
        dev_pod.render_pod(
            cfg.dev_pod, namespace="training", image=IMAGE, pool=cfg.pools()["small"]
        )["spec"],
    ]


def test_every_rendered_pod_is_restricted_with_writable_caches_off_the_root():
    for spec in _pod_specs():
        sc = spec["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["runAsUser"] == pod_spec.TRAINER_UID
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        for c in spec["containers"]:
            csc = c["securityContext"]
            assert csc["allowPrivilegeEscalation"] is False and csc["readOnlyRootFilesystem"]
            assert csc["capabilities"] == {"drop": ["ALL"]}
            mounts = {m["mountPath"] for m in c["volumeMounts"]}
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            for key in (
                "HOME",
                "TMPDIR",
                "HF_HOME",
                "TRITON_CACHE_DIR",
                "TORCH_HOME",
                "TORCHINDUCTOR_CACHE_DIR",
                "MPLCONFIGDIR",
                "TORCH_NCCL_DEBUG_INFO_TEMP_FILE",
                "XDG_CACHE_HOME",
            ):
                assert any(env[key] == m or env[key].startswith(m + "/") for m in mounts), key
        assert {v["name"] for v in spec["volumes"]} >= {"writable-home", "writable-tmp"}
    ray = rendered(framework="ray")["spec"]["submitterPodTemplate"]["spec"]
    assert ray["restartPolicy"] == "Never"  # a Job's pod may not restart Always


def test_network_policies_validate_and_keep_jobs_apart():
    from components import job_contracts, network_policy
    from components.job_contracts import JobSetting
    from components.workloads import pod_security_labels

    setting = JobSetting(None, "10.0.0.0/16", None)
    cfg = config.parse(stack(trainingJobs={"a": job(), "b": job(framework="ray")}))
    contracts = [
        *job_contracts.contracts("a", cfg.training_jobs["a"], setting),
        *job_contracts.contracts("b", cfg.training_jobs["b"], setting),
    ]
    policies = [
        network_policy.render_default_deny("training"),
        *(network_policy.render_contract(c, "training") for c in contracts),
    ]
    for p in policies:
        assert schemas.validate_object(p, "1.34") == []
    by_name = {p["metadata"]["name"]: p["spec"] for p in policies}
    assert by_name["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    a = by_name["job-a-pytorch"]
    assert a["ingress"][0]["from"][0]["podSelector"]["matchLabels"] == {
        "trainstack.io/job": "a",
        "trainstack.io/role": "pytorch",
    }
    https = a["egress"][1]
    assert https["to"][0]["ipBlock"]["except"] == ["169.254.169.254/32", "10.0.0.0/16"]
    assert set(by_name) == {
        "default-deny",
        "job-a-pytorch",
        "job-b-ray-head",
        "job-b-ray-worker",
        "job-b-ray-submitter",
    }
    assert pod_security_labels("1.34")["pod-security.kubernetes.io/enforce"] == "restricted"
    # Every pod of a rendered job carries the labels its role's policy selects on (else its
    # traffic would fall under default-deny).
    for manifest in (rendered(name="a", nodes=2), rendered(name="b", framework="ray")):
        spec = manifest["spec"]
        templates = [r["template"] for r in spec.get("pytorchReplicaSpecs", {}).values()] or [
            spec["rayClusterSpec"]["headGroupSpec"]["template"],
            *[g["template"] for g in spec["rayClusterSpec"]["workerGroupSpecs"]],
            spec["submitterPodTemplate"],
        ]
        for t in templates:
            selected = [
                n
                for n, p in by_name.items()
                if p["podSelector"].get("matchLabels")
                and p["podSelector"]["matchLabels"].items() <= t["metadata"]["labels"].items()
            ]
            assert len(selected) == 1, (t["metadata"]["labels"], selected)


def test_https_egress_keeps_the_vpc_out_unless_interface_endpoints_live_there():
    from trainstack.offline import plan

    def https_except(**overrides) -> tuple[list[str], str]:
        result = plan.run(ROOT, "dev", overrides=overrides)
        policy = next(
            m
            for m in result.manifests
            if m["kind"] == "NetworkPolicy" and m["metadata"]["name"] == "job-llama-1b-pytorch"
        )
        blocks = [
            peer["ipBlock"]
            for rule in policy["spec"]["egress"]
            for peer in rule.get("to", [])
            if "ipBlock" in peer and peer["ipBlock"]["cidr"] == "0.0.0.0/0"
        ]
        return blocks[0]["except"], str(result.config.network.cidr)

    excepted, vpc = https_except(**{"trainstack:network.interfaceEndpoints": False})
    assert excepted == ["169.254.169.254/32", vpc]
    # Interface endpoints put AWS's APIs on VPC addresses: the VPC must stay reachable on 443.
    excepted, _ = https_except(**{"trainstack:network.interfaceEndpoints": True})
    assert excepted == ["169.254.169.254/32"]


def test_dev_pod_sshd_does_not_refuse_keys_under_an_emptydir_home():
    # The kubelet makes an emptyDir root-owned and 0777: sshd's StrictModes would refuse every
    # key found below it (OpenSSH's path check), so the dev pod turns it off.
    script = dev_pod.startup_script(dev_cfg(ssh=True).dev_pod)
    assert "-o StrictModes=no" in script and "/usr/sbin/sshd" in script


# ------------------------------------------------------------------- retries by exit code

# kubeflow/trainer v1.9.3 pkg/apis/kubeflow.org/v1/common_types.go: the RestartPolicy values
# (the CRD declares the field a plain string, so the schema alone would accept any word).
OPERATOR_RESTART_POLICIES = ("Always", "OnFailure", "Never", "ExitCode")


@pytest.mark.usefixtures("pinned_crds")
@pytest.mark.parametrize(
    "fields",
    [{}, {"nodes": 1}, {"nodes": None, "minNodes": 1, "maxNodes": 4, "args": ELASTIC_BATCH}],
)
def test_every_replica_restarts_by_exit_code(fields):
    """ExitCode: the operator fails the job on 1-127 and recreates the pod on 128-255, for
    fixed and elastic jobs alike (the same ReconcilePods; the v1.9.3 webhook puts no rule on
    restartPolicy)."""
    m = rendered(**fields)
    policies = {r["restartPolicy"] for r in m["spec"]["pytorchReplicaSpecs"].values()}
    assert policies == {"ExitCode"} and policies <= set(OPERATOR_RESTART_POLICIES)
    assert schemas.validate_object(m, "1.34") == []


def _run_rendered_launcher(tmp_path: Path, mode: str, **fields) -> subprocess.CompletedProcess:
    """The Master's rendered command up to its trainer, which a two-rank stand-in replaces
    (tests/trainer/retry_worker.py); the checkpoint volume is tmp_path."""
    cmd = pod_of(rendered(nodes=1, gpusPerNode=2, **fields))["containers"][0]["command"]
    assert cmd[:3] == LAUNCH
    env = {"PET_NNODES": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    argv = [kubelet_expand(a, env) for a in cmd[: cmd.index("-m", 3)]]
    argv = [a.replace(pod_spec.CHECKPOINT_MOUNT, str(tmp_path)) for a in argv]
    argv = [sys.executable, *argv[1:], str(ROOT / "tests/trainer/retry_worker.py"), mode]
    run_env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    run_env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run(
        [*argv, str(tmp_path)], env=run_env, capture_output=True, text=True, timeout=120
    )


def test_rendered_command_reports_the_rank_failure_to_the_operator(tmp_path):
    """The rendered command whose rank 1 exits 3 (non-finite loss) exits 3, which the operator
    fails the job for (kubeflow/trainer v1.9.3 pkg/util/train/train_util.go IsRetryableExitCode:
    >= 128); torchrun alone would exit 1. A SIGKILLed rank's 137 (retryable): the crash-loop
    test below; success: the training run above."""
    proc = _run_rendered_launcher(tmp_path, "exit3", maxRestarts=0)
    assert proc.returncode == 3, proc.stderr[-2000:]


def test_rendered_command_stops_a_crash_loop_at_the_jobs_backoff_limit(tmp_path):
    """backoffLimit reaches trainer.launch with the job's checkpoint directory: with 1, the
    second SIGKILL without a new checkpoint exits 4, which the operator treats as permanent
    (< 128), instead of another recreation the operator would not count (kubeflow/trainer#2045)."""
    codes = [
        _run_rendered_launcher(tmp_path, "sigkill", maxRestarts=0, backoffLimit=1).returncode
        for _ in range(2)
    ]
    assert codes == [137, 4]
    m = rendered(nodes=1, backoffLimit=1)
    assert m["spec"]["runPolicy"]["backoffLimit"] == 1  # the operator's own field stays
