"""Weights & Biases in a training job's pods, when the stack holds `trainstack:wandbApiKey`
(config/wandb_config.py): the key from a Secret the stack makes of it, never as a value in the
pod spec, and where the runs go as plain env, under the variable names wandb reads
(wandb 0.31.0 wandb/env.py). The trainer logs from rank 0 (trainer/wandb_log.py); a job's own
command may use the same variables.

The pods reach W&B's API (api.wandb.ai) on 443 through the trainer roles' HTTPS egress to
public addresses (runtime_contract.https_outside): a NetworkPolicy names no host names, so W&B
needs no rule of its own.
"""

from __future__ import annotations

from typing import Any

from .config.wandb_config import WandbTarget

SECRET = "wandb-api-key"
SECRET_KEY = "apiKey"


def env(job_name: str, target: WandbTarget) -> list[dict[str, Any]]:
    """The W&B variables of a job's trainer pods. The run's name and group are the job's, and so
    is its id (the trainer derives it from JOB_NAME): one W&B run per job, resumed after a
    restart."""
    out: list[dict[str, Any]] = [
        {
            "name": "WANDB_API_KEY",
            "valueFrom": {"secretKeyRef": {"name": SECRET, "key": SECRET_KEY}},
        },
        {"name": "WANDB_PROJECT", "value": target.project},
    ]
    if target.entity:
        out.append({"name": "WANDB_ENTITY", "value": target.entity})
    out += [
        {"name": "WANDB_RUN_GROUP", "value": job_name},
        {"name": "WANDB_NAME", "value": job_name},
    ]
    return out
