"""`trainstack:artifacts`: the S3 bucket jobs read data from and write checkpoints and models to,
and the `training` ServiceAccount whose Pod Identity role reaches it."""

from __future__ import annotations

from pydantic import Field

from .base import _Model

# The bucket's top-level prefixes, and what a job's role may do under each.
DATA_PREFIX = "data/"
CHECKPOINTS_PREFIX = "checkpoints/"
MODELS_PREFIX = "models/"


class ArtifactsConfig(_Model):
    enabled: bool = True
    # The ServiceAccount every job pod and the dev pod run under, in the jobs namespace
    # (a DNS-1123 subdomain, as Kubernetes names ServiceAccounts).
    service_account: str = Field(
        default="training",
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    )
