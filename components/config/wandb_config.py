"""`trainstack:wandb` and the `trainstack:wandbApiKey` secret: Weights & Biases for the training
jobs, optional.

On when the stack holds the key (`pulumi config set --secret trainstack:wandbApiKey ...`): every
training job's GPU pods then get WANDB_API_KEY from a Secret the stack makes of it, and the
project, entity, group and name below as plain env (components/wandb_env.py); the trainer logs
to W&B from rank 0 (trainer/wandb_log.py). `wandb` only names where the runs go.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from .base import _Model, key
from .workloads import TrainingJobConfig

KEY = "wandbApiKey"
# wandb 0.31.0 wandb/sdk/wandb_settings.py validate_project: at most 128 characters, none of
# / \ # ? % :. An entity (a user or team) is a segment of the run's URL likewise.
NAME = r"^[^/\\#?%:\s]+$"
# The variables the stack sets in a job's pods when W&B is on (components/wandb_env.py); a job's
# own `env` may not set them again (the CRDs key a container's env by name).
STACK_ENV = ("WANDB_API_KEY", "WANDB_PROJECT", "WANDB_ENTITY", "WANDB_RUN_GROUP", "WANDB_NAME")


class WandbConfig(_Model):
    project: str | None = Field(default=None, max_length=128, pattern=NAME)  # default: cluster
    entity: str | None = Field(default=None, max_length=128, pattern=NAME)  # default: the key's


@dataclass(frozen=True)
class WandbTarget:
    """Where the jobs' runs go, as the pods' env says it."""

    project: str
    entity: str | None = None


def target(cfg: WandbConfig, cluster: str, secrets: set[str]) -> WandbTarget | None:
    """None without the key: W&B off."""
    if KEY not in secrets:
        return None
    return WandbTarget(cfg.project or cluster, cfg.entity)


def check_wandb(
    cfg: WandbConfig, secrets: set[str], jobs: dict[str, TrainingJobConfig]
) -> list[str]:
    if KEY not in secrets:
        given = [k for k, v in (("project", cfg.project), ("entity", cfg.entity)) if v]
        return [
            f"{key('wandb', k)}: W&B is off without its key; run `pulumi config set --secret "
            f"{key(KEY)} <your W&B API key>`, or remove {key('wandb')}"
            for k in given
        ]
    issues = []
    for name, job in jobs.items():
        # WANDB_API_KEY in `env` is refused as a secret already (workloads.SECRET_ENV).
        for env in sorted(set(job.env) & set(STACK_ENV[1:])):
            issues.append(
                f"{key('trainingJobs', name, 'env', env)}: set by the stack from "
                f"{key('wandb')} and {key(KEY)} while W&B is on; a second value would conflict; "
                "remove it (WANDB_MODE=disabled in env turns W&B off for this job)"
            )
    return issues
