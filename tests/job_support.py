"""Rendering one training job from an edited dev stack: the helpers the training-job, operator
and RayJob-status tests share (tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import re

import pytest
import yaml
from support import ROOT

from components import config
from components.training_job import JobTarget, render_all

IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/trainstack-dev@sha256:" + "ab" * 32
SMALL_BATCH = {"global_batch_size": 64, "micro_batch_size": 8}
# divisible at 1, 2, 3 and 4 ranks, so an elastic 1..4 job is valid at every size
ELASTIC_BATCH = {"global_batch_size": 24, "micro_batch_size": 2, "data.num_shards": 24}


def stack(**sections) -> dict:
    """The dev stack's trainstack:* sections with a shared volume, edited by `sections`."""
    raw = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    data = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("trainstack:")}
    data["volumes"] = {"ckpt": {"type": "fsx"}, "scratch": {"type": "ebs", "size": "200Gi"}}
    data["trainingJobs"] = {}
    data.update(sections)
    return data


def job(**fields) -> dict:
    return {
        "nodePool": "small",
        "nodes": 2,
        "gpusPerNode": 1,
        "preset": "small",
        "checkpointVolume": "ckpt",
        **fields,
    }


def render_job(cfg: config.PlatformConfig, name: str, bucket: str | None = None) -> dict:
    """Job `name` of a parsed config, rendered on its own pool and volume."""
    return render_job_objects(cfg, name, bucket)[-1]


def render_job_objects(
    cfg: config.PlatformConfig, name: str, bucket: str | None = None
) -> list[dict]:
    """Every object of job `name` (a TrainJob's runtime, then the job object)."""
    j = cfg.training_jobs[name]
    target = JobTarget(
        "training",
        IMAGE,
        cfg.pools()[j.node_pool],
        j.checkpoint_volume,
        cfg.volumes[j.checkpoint_volume],
        artifacts_bucket=bucket,
        wandb=cfg.wandb_target(),
    )
    return render_all(name, j, target)


def rendered(name: str = "j", secrets: dict | None = None, **fields) -> dict:
    cfg = config.parse(stack(trainingJobs={name: job(**fields)}, **(secrets or {})))
    return render_job(cfg, name)


def rendered_trainjob(name: str = "j", secrets: dict | None = None, **fields) -> tuple[dict, dict]:
    """(TrainingRuntime, TrainJob) of a `framework: trainjob` job of the dev stack."""
    cfg = config.parse(
        stack(trainingJobs={name: job(framework="trainjob", **fields)}, **(secrets or {}))
    )
    runtime, trainjob = render_job_objects(cfg, name)
    return runtime, trainjob


def runtime_pod(runtime: dict) -> dict:
    """The pod template of a TrainingRuntime's one replicated job (`node`)."""
    (node,) = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    return node["template"]["spec"]["template"]


def errors(**sections) -> list[str]:
    with pytest.raises(config.ConfigError) as e:
        config.parse(stack(**sections))
    return e.value.issues


def pod_of(manifest: dict, replica: str = "Master") -> dict:
    return manifest["spec"]["pytorchReplicaSpecs"][replica]["template"]["spec"]


def env_of(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def kubelet_expand(arg: str, env: dict[str, str]) -> str:
    """$(VAR) as the kubelet expands it in command/args; unknown references stay literal."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), arg)
