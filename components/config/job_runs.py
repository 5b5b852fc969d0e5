"""What a training job runs: this stack's trainer (the default) or a workload of its own.

A job with `command` (PyTorchJob: the script torchrun starts, in place of `-m trainer ...`) or
`entrypoint` (RayJob: the command `ray job submit` runs, in place of `trainer.ray_train`) is
*foreign*: the trainer's own checks (preset, options, reserved options) do not apply to it, every
check of where and how it runs does (workloads.check_job). Its `image` is this stack's image or
an ECR image pinned by digest from a repository `image.allowedRepositories` lists, the list the
offline plan hands the policy pack's job-images-from-ecr rule.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from policies.rules.pods import DIGEST, ECR

from .. import versions
from . import reserved_env
from .base import key

if TYPE_CHECKING:
    from .workloads import TrainingJobConfig

# <account>.dkr.ecr.<region>.amazonaws.com/<repository> (ECR repository names: lowercase,
# digits, `._-/`); the pack's ECR and DIGEST patterns decide the rest.
ECR_REPOSITORY = r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9][a-z0-9._/-]*$"
RAY_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def repository_of(image: str) -> str:
    """`<registry>/<repo>@sha256:<hex>` -> `<registry>/<repo>`."""
    return image.split("@", 1)[0]


def check_image(path: tuple, job: TrainingJobConfig, allowed: list[str]) -> list[str]:
    if job.image is None:
        return []
    where = f"{key(*path, 'image')} = {job.image!r}"
    if not (ECR.match(job.image) and DIGEST.search(job.image)):
        return [
            f"{where}: expected an ECR image by digest, "
            "<account>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:<64 hex> "
            "(push it to ECR first; leave image unset for this stack's trainer image)"
        ]
    repo = repository_of(job.image)
    if repo not in [r.rstrip("/") for r in allowed]:
        return [
            f"{where}: repository {repo!r} is not in {key('image', 'allowedRepositories')} "
            f"({', '.join(allowed) or 'empty'}); add it there (and to the policy pack's "
            "job-images-from-ecr allowedRepositories)"
        ]
    if not job.foreign:
        runs = "entrypoint" if job.framework == "ray" else "command"
        return [
            f"{key(*path, 'image')}: only this stack's image has the trainer; give the job "
            f"its own {runs} to run in {repo!r}, or remove image"
        ]
    return []


def check_command(path: tuple, job: TrainingJobConfig) -> list[str]:
    issues = []
    if job.framework == "ray" and job.command is not None:
        issues.append(
            f"{key(*path, 'command')}: a RayJob runs an entrypoint (a shell command line "
            "`ray job submit` runs); use entrypoint"
        )
    if job.torchrun and job.entrypoint is not None:
        issues.append(
            f"{key(*path, 'entrypoint')}: for framework: ray; a PyTorchJob or TrainJob runs "
            'command (the script torchrun starts, e.g. ["train.py", "--lr", "1e-4"])'
        )
    if job.command is not None:
        cmd = job.command
        if not cmd or not all(cmd):
            issues.append(f"{key(*path, 'command')}: give the script and its arguments")
        elif cmd[0].startswith("-") and (
            cmd[0] not in ("-m", "--module") or len(cmd) < 2 or not MODULE.match(cmd[1])
        ):
            # Anything else would be one of torchrun's own options, which the job sets.
            issues.append(
                f"{key(*path, 'command')} = {cmd!r}: starts with an option; give a script "
                "path or `-m <module>` (torchrun's options come from the job's fields)"
            )
        elif job.torchrun:
            issues += reserved_env.check_command(path, cmd)
    if job.entrypoint is not None and not job.entrypoint.strip():
        issues.append(f"{key(*path, 'entrypoint')}: empty; give the command line to run")
    if job.foreign:
        given = [
            name
            for name, value in (("preset", job.preset), ("maxSteps", job.max_steps))
            if value is not None
        ] + (["args"] if job.args else [])
        if given:
            issues.append(
                f"{key(*path)}: {', '.join(given)} configure this stack's trainer, which a "
                "job with its own command does not run; pass options in the command instead"
            )
    elif job.preset is None:
        issues.append(
            f"{key(*path, 'preset')}: missing; the trainer needs a preset (or give the job "
            "its own command / entrypoint)"
        )
    return issues


def check_ray_version(path: tuple, job: TrainingJobConfig) -> list[str]:
    """rayClusterSpec.rayVersion decides KubeRay's probes (training_job.render_rayjob): it must
    be the Ray the image runs. This stack's image runs its pin; another image's is the user's
    to state."""
    where = key(*path, "rayVersion")
    if job.framework != "ray":
        return [f"{where}: only for framework: ray"] if job.ray_version is not None else []
    if job.ray_version is not None and not RAY_VERSION.match(job.ray_version):
        return [f"{where} = {job.ray_version!r}: expected a Ray release X.Y.Z"]
    if job.image is None:
        pin = versions.ray_version()
        if job.ray_version not in (None, pin):
            return [
                f"{where} = {job.ray_version!r}: this stack's image runs Ray {pin} "
                "(trainer/requirements-ray.txt); remove rayVersion"
            ]
        return []
    if job.ray_version is None:
        return [
            f"{where}: missing; state the Ray release {job.image!r} runs "
            "(`python -c 'import ray; print(ray.__version__)'` in it): KubeRay picks the "
            "Ray pods' health probes by it"
        ]
    return []


def check_uploads(path: tuple, job: TrainingJobConfig, artifacts: bool) -> list[str]:
    where = f"{key(*path, 'uploadCheckpoints')} = true"
    if job.upload_checkpoints and not artifacts:
        return [
            f"{where}: no bucket; enable {key('artifacts', 'enabled')} or remove uploadCheckpoints"
        ]
    if job.upload_checkpoints and job.foreign:
        return [
            f"{where}: only this stack's trainer uploads by itself; a job with its own "
            "command gets TRAINSTACK_CHECKPOINT_URI to upload to; remove uploadCheckpoints"
        ]
    return []


def check_runs(
    path: tuple, job: TrainingJobConfig, *, allowed: list[str], artifacts: bool
) -> list[str]:
    """Every check of what a job runs (image, command, Ray version, uploads, reserved env)."""
    return (
        check_image(path, job, allowed)
        + check_command(path, job)
        + check_ray_version(path, job)
        + check_uploads(path, job, artifacts)
        + reserved_env.check_env(path, job.framework, job.env)
    )
