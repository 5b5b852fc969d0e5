"""Jobs that run a workload of their own (components/config/job_runs.py, job_command.py): the
user's script under the same torchrun launcher, a Ray entrypoint such as VERL's GRPO, in this
stack's image or an ECR image by digest; and the trainer's checkpoint uploads."""

from __future__ import annotations

import json
import os
import shlex
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
    stack,
)
from ports import free_port

from components import config, pod_spec
from components.job_command import EFA_CHECK, LAUNCH, TORCHRUN
from components.training_job import JobTarget, render
from trainer import config as trainer_config
from trainer import ray_train
from trainstack.offline import schemas

ROOT = Path(__file__).resolve().parents[2]
VERL_REPO = "123456789012.dkr.ecr.us-west-2.amazonaws.com/verl"
VERL_IMAGE = f"{VERL_REPO}@sha256:" + "cd" * 32
BUCKET = "trainstack-artifacts-abc"
OWN = {"command": ["train.py", "--lr", "1e-4"], "preset": None}


def parse(allowed=(VERL_REPO,), artifacts=True, **jobs) -> config.PlatformConfig:
    image = {"allowedRepositories": list(allowed)}
    return config.parse(stack(trainingJobs=jobs, image=image, artifacts={"enabled": artifacts}))


def render_job(cfg: config.PlatformConfig, name: str, bucket: str | None = BUCKET) -> dict:
    j = cfg.training_jobs[name]
    target = JobTarget(
        "training",
        j.image or IMAGE,  # as TrainingJob picks it
        cfg.pools()[j.node_pool],
        j.checkpoint_volume,
        cfg.volumes[j.checkpoint_volume],
        artifacts_bucket=bucket,
    )
    return render(name, j, target)


def job_errors(allowed=(VERL_REPO,), artifacts=True, **fields) -> list[str]:
    return errors(
        trainingJobs={"j": job(**fields)},
        image={"allowedRepositories": list(allowed)},
        artifacts={"enabled": artifacts},
    )


# --------------------------------------------------------------------- the efa stack's VERL job


def efa_config() -> config.PlatformConfig:
    raw = yaml.safe_load((ROOT / "Pulumi.efa.yaml").read_text())["config"]
    return config.parse(
        {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("trainstack:")}
    )


@pytest.mark.usefixtures("pinned_crds")
def test_efa_stacks_verl_rayjob_renders_valid_against_the_rayjob_crd():
    cfg = efa_config()
    j = cfg.training_jobs["verl-grpo"]
    assert j.framework == "ray" and j.foreign and j.image.startswith(VERL_REPO + "@sha256:")
    m = render_job(cfg, "verl-grpo")
    assert (m["apiVersion"], m["kind"]) == ("ray.io/v1", "RayJob")
    assert schemas.validate_object(m, "1.34") == []
    spec = m["spec"]
    # VERL's own entrypoint (volcengine/verl v0.7.0 examples/grpo_trainer/run_qwen2-7b.sh),
    # as the stack file gives it; its world matches the worker group.
    argv = shlex.split(spec["entrypoint"])
    assert argv[:3] == ["python3", "-m", "verl.trainer.main_ppo"]
    overrides = dict(a.split("=", 1) for a in argv[3:])
    assert overrides["algorithm.adv_estimator"] == "grpo"
    group = spec["rayClusterSpec"]["workerGroupSpecs"][0]
    assert int(overrides["trainer.nnodes"]) == group["replicas"] == j.nodes
    assert int(overrides["trainer.n_gpus_per_node"]) == j.gpus_per_node
    assert group["rayStartParams"]["num-gpus"] == str(j.gpus_per_node)
    # Every pod runs VERL's image, and the cluster declares the Ray that image runs.
    head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    submitter = spec["submitterPodTemplate"]["spec"]
    images = {
        c["image"] for p in (head, group["template"]["spec"], submitter) for c in p["containers"]
    }
    assert images == {j.image}
    assert spec["rayClusterSpec"]["rayVersion"] == j.ray_version
    # EFA devices and the libfabric env as for the trainer; no trainer.* check in its image.
    worker = group["template"]["spec"]["containers"][0]
    assert worker["resources"]["limits"]["vpc.amazonaws.com/efa"] >= 1
    assert env_of(worker)["FI_PROVIDER"] == "efa"
    assert not {"trainer.ray_train", "trainer.selftest", "--expect-efa"} & set(argv)


def test_foreign_ray_image_needs_its_ray_version_and_the_stack_image_keeps_its_pin():
    ray = {"framework": "ray", "entrypoint": "python3 -m verl.trainer.main_ppo", "preset": None}
    issues = job_errors(image=VERL_IMAGE, **ray)
    assert any("trainingJobs.j.rayVersion: missing" in i for i in issues), issues
    issues = job_errors(rayVersion="1.0.0", **ray)
    assert any("this stack's image runs Ray" in i for i in issues), issues
    assert any("only for framework: ray" in i for i in job_errors(rayVersion="2.48.0"))
    assert any("X.Y.Z" in i for i in job_errors(image=VERL_IMAGE, rayVersion="latest", **ray))


# ---------------------------------------------------------------------------- image checks


@pytest.mark.parametrize(
    ("image", "says"),
    [
        ("verlai/verl:vllm012.latest", "expected an ECR image by digest"),
        (f"{VERL_REPO}:v0.7.0", "expected an ECR image by digest"),
        (f"{VERL_REPO}@sha256:abc", "expected an ECR image by digest"),
        (
            "123456789012.dkr.ecr.us-west-2.amazonaws.com/other@sha256:" + "0" * 64,
            "is not in trainstack:image.allowedRepositories",
        ),
    ],
)
def test_job_image_must_be_an_allowed_ecr_repository_by_digest(image, says):
    issues = job_errors(image=image, **OWN)
    assert any(
        i.startswith(f"trainstack:trainingJobs.j.image = {image!r}") and says in i for i in issues
    ), issues


def test_an_image_of_its_own_needs_a_command_and_allowed_repositories_are_ecr_urls():
    issues = job_errors(image=VERL_IMAGE)
    assert any("only this stack's image has the trainer" in i for i in issues), issues
    assert job_errors(allowed=["docker.io/verlai/verl"], image=VERL_IMAGE, **OWN)[0].startswith(
        "trainstack:image.allowedRepositories[0]"
    )
    cfg = parse(j=job(image=VERL_IMAGE, **OWN))
    assert cfg.training_jobs["j"].image == VERL_IMAGE


# ------------------------------------------------------------------ which checks still apply


def test_foreign_command_skips_the_trainer_checks():
    # As the trainer, elastic 1..4 with the preset's batch does not divide at every size...
    trainer_job = {"nodes": None, "minNodes": 1, "maxNodes": 4}
    assert any("global_batch_size" in i or "at 3 nodes" in i for i in job_errors(**trainer_job))
    # ...a script of its own is not the trainer: no preset needed, no option checked.
    cfg = parse(j=job(**trainer_job, **OWN))
    assert cfg.training_jobs["j"].preset is None
    assert any("preset: missing" in i for i in job_errors(preset=None))
    # Trainer fields on a foreign job would be silently ignored: refused instead.
    issues = job_errors(command=["train.py"], maxSteps=10, args=SMALL_BATCH)
    assert any("preset, maxSteps, args configure this stack's trainer" in i for i in issues)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"gpusPerNode": 16}, "trainingJobs.j.gpusPerNode"),
        ({"nodes": 99}, "trainingJobs.j.nodes = 99"),
        ({"nodePool": "nope"}, "trainingJobs.j.nodePool"),
        ({"efa": True}, "trainingJobs.j.efa = true"),
        ({"checkpointVolume": None}, "trainingJobs.j.checkpointVolume: missing"),
        ({"checkpointVolume": "scratch"}, "an EBS volume attaches to one node"),
        ({"hfToken": True}, "trainingJobs.j.hfToken = true: no token"),
        ({"env": {"WANDB_API_KEY": "x"}}, "looks like a secret"),
        ({"env": {"TRAINSTACK_RUN_DIR": "/x"}}, "env.TRAINSTACK_RUN_DIR: set by the stack"),
        ({"memory": "900Gi"}, "trainingJobs.j.memory"),
        ({"nodes": None, "minNodes": 1, "maxNodes": 2, "framework": "ray"}, "elastic"),
    ],
)
def test_checks_of_where_a_job_runs_apply_to_a_foreign_command(fields, says):
    own = dict(OWN)
    if fields.get("framework") == "ray":
        own = {"entrypoint": "python3 my_ray.py", "preset": None}
    issues = job_errors(image=VERL_IMAGE, **{**own, **fields})
    assert any(says in i for i in issues), issues


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"command": ["--nnodes=8", "train.py"]}, "starts with an option"),
        ({"command": ["-m"]}, "starts with an option"),
        ({"command": []}, "give the script and its arguments"),
        ({"framework": "ray", "command": ["x.py"]}, "use entrypoint"),
        ({"entrypoint": "python3 x.py"}, "for framework: ray"),
        ({"framework": "ray", "entrypoint": "  "}, "entrypoint: empty"),
    ],
)
def test_command_and_entrypoint_errors_name_the_key(fields, says):
    issues = job_errors(**{"preset": None, **fields})
    assert any(i.startswith("trainstack:trainingJobs.j") and says in i for i in issues), issues


# ---------------------------------------------------------- the user's script under torchrun


def test_command_replaces_the_trainer_as_torchruns_script():
    cfg = parse(
        own=job(command=["-m", "mypkg.train", "--lr", "1e-4"], preset=None, nodes=2),
        ext=job(command=["train.py"], preset=None, image=VERL_IMAGE),
    )
    cmd = pod_of(render_job(cfg, "own"))["containers"][0]["command"]
    assert cmd[:3] == LAUNCH and cmd[-4:] == ["-m", "mypkg.train", "--lr", "1e-4"]
    assert "--rdzv-endpoint=$(MASTER_ADDR):$(MASTER_PORT)" in cmd and "trainer" not in cmd[3:]
    # Another image has no trainer package: torch's own torchrun, same arguments.
    ext = pod_of(render_job(cfg, "ext"))["containers"][0]["command"]
    assert ext[:1] == TORCHRUN and ext[-1] == "train.py"
    # trainer.launch's own options come first (its crash-loop count, trainer/crash_loop.py);
    # torchrun's follow, the same for both.
    assert [a.split("=")[0] for a in cmd[3:5]] == ["--backoff-limit", "--checkpoint-dir"]
    assert [a.replace("=ext", "=own") for a in ext[1:-1]] == cmd[5:-4]


def test_efa_check_runs_only_where_the_image_has_it():
    raw = yaml.safe_load((ROOT / "Pulumi.efa.yaml").read_text())["config"]
    data = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("trainstack:")}
    data["trainingJobs"] = {
        "own": job(
            nodePool="efa",
            gpusPerNode=4,
            command=["t.py"],
            preset=None,
            checkpointVolume="checkpoints",
        ),
        "ext": job(
            nodePool="efa",
            gpusPerNode=4,
            command=["t.py"],
            preset=None,
            image=VERL_IMAGE,
            checkpointVolume="checkpoints",
        ),
    }
    data["image"] = {**data["image"], "allowedRepositories": [VERL_REPO]}
    cfg = config.parse(data)
    own = pod_of(render_job(cfg, "own"))["containers"][0]
    ext = pod_of(render_job(cfg, "ext"))["containers"][0]
    assert shlex.split(own["command"][2])[: len(EFA_CHECK)] == EFA_CHECK
    assert ext["command"][0] == "torchrun" and "trainer.selftest" not in " ".join(ext["command"])
    # Both still request EFA and get the libfabric env.
    for c in (own, ext):
        assert c["resources"]["limits"]["vpc.amazonaws.com/efa"] >= 1
        assert env_of(c)["FI_PROVIDER"] == "efa"


# Each rank records what it was given; the failing rank waits until every rank has recorded,
# since torchrun stops the others as soon as one fails (a slow rank 0 would record nothing).
STAND_IN = """
import glob, json, os, sys, time
keys = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
        "JOB_NAME", "NCCL_SOCKET_IFNAME", "TRAINSTACK_RUN_DIR", "TRAINSTACK_CHECKPOINT_URI"]
out = sys.argv[sys.argv.index("--out") + 1]
record = os.path.join(out, "rank-" + os.environ["RANK"] + ".json")
with open(record + ".tmp", "w") as f:
    json.dump({"argv": sys.argv[1:], **{k: os.environ.get(k) for k in keys}}, f)
os.rename(record + ".tmp", record)
if os.environ["LOCAL_RANK"] != "1":
    sys.exit(0)
deadline = time.monotonic() + 60
while len(glob.glob(os.path.join(out, "rank-*.json"))) < int(os.environ["WORLD_SIZE"]):
    if time.monotonic() > deadline:
        sys.exit(99)
    time.sleep(0.05)
sys.exit(int(sys.argv[sys.argv.index("--exit") + 1]))
"""


@pytest.mark.parametrize(
    ("image", "code", "pod_code"),
    [(None, 0, 0), (None, 3, 3), (None, 1, 200), (VERL_IMAGE, 0, 0), (VERL_IMAGE, 3, 1)],
)
def test_users_script_runs_under_the_rendered_torchrun_with_the_rank_env(
    tmp_path, image, code, pod_code
):
    """The Master's rendered command with a stand-in script: torchrun starts it once per GPU
    with the rank environment, the pod's env reaches it, and the pod's exit code is
    trainer.launch's (2/3 end the job, anything else is retried) in this stack's image, plain
    torchrun's (1 for any failure) in another."""
    script = tmp_path / "my_train.py"
    script.write_text(STAND_IN)
    fields = {"command": [str(script), "--out", str(tmp_path), "--exit", str(code)], "preset": None}
    cfg = parse(j=job(nodes=1, gpusPerNode=2, maxRestarts=0, image=image, **fields))
    c = pod_of(render_job(cfg, "j"))["containers"][0]
    pod_env = {e["name"]: e["value"] for e in c["env"] if "value" in e}
    operator = {"PET_NNODES": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    argv = [kubelet_expand(a, {**pod_env, **operator}) for a in c["command"]]
    assert not any("$(" in a for a in argv), argv
    # The launcher's crash-loop record lives on the checkpoint volume: tmp_path here, not the
    # host's /checkpoints, where runs would add up to a crash loop.
    argv = [a.replace(pod_spec.CHECKPOINT_MOUNT, str(tmp_path)) for a in argv]
    if argv[0] == "python":
        argv[0] = sys.executable
    run_env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    run_env.update(
        {
            k: v
            for k, v in pod_env.items()
            if not v.startswith("/home/trainer") and not v.startswith("/tmp")
        },
        PYTHONPATH=str(ROOT),
        OMP_NUM_THREADS="1",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # torchrun
    )
    proc = subprocess.run(
        argv, env=run_env, cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == pod_code, proc.stderr[-2000:]
    ranks = {p.name: json.loads(p.read_text()) for p in tmp_path.glob("rank-*.json")}
    assert sorted(ranks) == ["rank-0.json", "rank-1.json"], proc.stderr[-2000:]
    for rank, seen in enumerate(ranks[f"rank-{r}.json"] for r in range(2)):
        assert seen["argv"] == fields["command"][1:]
        assert (seen["RANK"], seen["LOCAL_RANK"], seen["WORLD_SIZE"]) == (str(rank), str(rank), "2")
        assert seen["MASTER_ADDR"] and seen["MASTER_PORT"] and seen["JOB_NAME"] == "j"
        assert seen["NCCL_SOCKET_IFNAME"] == "^lo"
        assert seen["TRAINSTACK_RUN_DIR"] == "/checkpoints/j"
        assert seen["TRAINSTACK_CHECKPOINT_URI"] == f"s3://{BUCKET}/checkpoints/j"


# ------------------------------------------------------------------------ checkpoint uploads


def test_trainer_jobs_upload_checkpoints_to_their_prefix_by_default():
    cfg = parse(
        pt=job(), ray=job(framework="ray", nodePool="large", gpusPerNode=4, args=SMALL_BATCH)
    )
    uri = f"s3://{BUCKET}/checkpoints/pt"
    cmd = pod_of(render_job(cfg, "pt"))["containers"][0]["command"]
    assert cmd[cmd.index("--checkpoint.upload") + 1] == uri
    # The trainer's own parser takes what the job renders.
    argv = cmd[cmd.index("trainer", 3) + 1 :]
    assert trainer_config.from_args(argv).checkpoint.upload == uri
    entry = shlex.split(render_job(cfg, "ray")["spec"]["entrypoint"])
    launch = ray_train.parse_args(entry[3:])
    assert (
        ray_train.check_trainer_args(launch).checkpoint.upload == f"s3://{BUCKET}/checkpoints/ray"
    )


def test_no_upload_without_a_bucket_or_when_turned_off_and_env_says_where():
    cfg = parse(on=job(), off=job(uploadCheckpoints=False), own=job(**OWN))
    for name in ("off", "own"):
        c = pod_of(render_job(cfg, name))["containers"][0]
        assert "--checkpoint.upload" not in c["command"], name
        env = env_of(c)
        assert env["TRAINSTACK_ARTIFACTS_BUCKET"] == BUCKET
        assert env["TRAINSTACK_CHECKPOINT_URI"] == f"s3://{BUCKET}/checkpoints/{name}"
        assert env["TRAINSTACK_RUN_DIR"] == f"/checkpoints/{name}"
    none = pod_of(render_job(parse(artifacts=False, on=job()), "on", bucket=None))["containers"][0]
    assert "--checkpoint.upload" not in none["command"]
    assert "TRAINSTACK_CHECKPOINT_URI" not in env_of(none) and env_of(none)["TRAINSTACK_RUN_DIR"]


def test_upload_config_errors():
    assert any("no bucket" in i for i in job_errors(artifacts=False, uploadCheckpoints=True))
    assert any(
        "gets TRAINSTACK_CHECKPOINT_URI" in i for i in job_errors(uploadCheckpoints=True, **OWN)
    )
    issues = job_errors(args={"checkpoint.upload": "s3://elsewhere/x"})
    assert any("args.checkpoint.upload: set by the job" in i for i in issues), issues
    # Turned off, the option is the user's again.
    cfg = parse(j=job(uploadCheckpoints=False, args={"checkpoint.upload": "s3://elsewhere/x"}))
    cmd = pod_of(render_job(cfg, "j"))["containers"][0]["command"]
    assert cmd[cmd.index("--checkpoint.upload") + 1] == "s3://elsewhere/x"


def test_elastic_batch_helper_still_valid_for_the_trainer():
    # Sanity: the trainer job these tests contrast with is valid as configured.
    parse(j=job(nodes=None, minNodes=1, maxNodes=4, args=ELASTIC_BATCH))
