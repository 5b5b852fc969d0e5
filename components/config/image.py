"""`trainstack:image`: the trainer image's ECR repository and the CodeBuild project that builds
it (on `up`, on a GitHub push, on a schedule)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from aws_rules.documented import SCHEDULE_EXPRESSION
from trainer.selftest import LEVELS as SELFTEST_LEVELS

from .base import _Model, key
from .checks import log_retention
from .job_runs import ECR_REPOSITORY

COMPUTE_TYPES = (
    "BUILD_GENERAL1_MEDIUM",
    "BUILD_GENERAL1_LARGE",
    "BUILD_GENERAL1_XLARGE",
    "BUILD_GENERAL1_2XLARGE",
)


class GithubSource(_Model):
    owner: str = Field(pattern=r"^[A-Za-z0-9-]+$")
    repo: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    branch: str = "main"


class ImageConfig(_Model):
    """The trainer image: ECR repository and the CodeBuild project that builds it on `up`."""

    enabled: bool = True
    # SMALL (3 GB) cannot build a CUDA image; LARGE has 15 GB and 128 GB of disk.
    compute_type: Literal[COMPUTE_TYPES] = "BUILD_GENERAL1_LARGE"  # type: ignore[valid-type]
    build_timeout_minutes: int = Field(default=60, ge=5, le=480)
    max_attempts: int = Field(default=3, ge=1, le=5)
    untagged_expire_days: int = Field(default=7, ge=1)
    keep_tagged: int = Field(default=30, ge=1)
    # Release images (vX.Y.Z tags) have their own count, so a busy branch cannot expire a release.
    keep_releases: int = Field(default=1000, ge=1)
    log_retention_days: int = 30
    github: GithubSource | None = None  # builds on every push to the branch
    nightly_schedule: str | None = None  # e.g. "cron(0 3 * * ? *)"
    # The selftest level the build runs inside the image before pushing it (trainer/selftest.py).
    # Not part of the source hash: changing it alone rebuilds nothing (docs/trainer.md).
    test_level: Literal[SELFTEST_LEVELS] = "standard"  # type: ignore[valid-type]
    # The build runs `preflight --fix` and builds the fixed files, the diff in its log. Not part
    # of the source hash either (imagebuild/preflight/fix.py).
    auto_fix: bool = False
    # ECR repositories besides this stack's own whose images (by digest) a job's `image` may
    # name; the offline plan gives the policy pack the same list (job-images-from-ecr).
    allowed_repositories: list[Annotated[str, Field(pattern=ECR_REPOSITORY)]] = []


def check_image(img: ImageConfig) -> list[str]:
    issues = log_retention(("image", "logRetentionDays"), img.log_retention_days)
    if img.nightly_schedule is not None and (
        problem := SCHEDULE_EXPRESSION.problem(img.nightly_schedule)
    ):
        issues.append(
            f"{key('image', 'nightlySchedule')} = {img.nightly_schedule!r}: {problem}; "
            "expected an EventBridge schedule such as 'cron(0 3 * * ? *)' or "
            f"'rate(1 day)' ({SCHEDULE_EXPRESSION.source})"
        )
    if img.nightly_schedule is not None and img.github is None:
        # Without a repository source a scheduled build would rebuild the last upload: nothing new.
        issues.append(
            f"{key('image', 'nightlySchedule')}: needs {key('image', 'github')} "
            "(owner, repo, branch) to build from; `pulumi up` already builds local edits"
        )
    return issues
