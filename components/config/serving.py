"""`trainstack:servingJobs.<name>`: a model served by vLLM's OpenAI-compatible server on a GPU pool
(components/serving.py renders it), and the Docker Hub credential its engine image is pulled
through ECR with (components/engine_image.py).

`model` is one of:
- `s3://{artifactsBucket}/models/<path>` (or the bucket's real name, `pulumi stack output
  artifactsBucket`): an export in the stack's artifacts bucket, copied into the pod before the
  server starts, under a role that may only read `models/`;
- `volume://<volume>/<path>`: a directory on one of `volumes`, mounted read-only;
- `hf://<org>/<name>[@<revision>]`: a Hugging Face hub id, downloaded by the server with the
  stack's `hfToken` (so `hfToken: true`).

`replicas: 0` declares the server stopped: no pod, so no GPU node, as a suspended job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from .base import _Model, key
from .checks import dns_name, hf_token_secret, unknown_pool, unknown_volume
from .job_runs import ECR_REPOSITORY
from .pools import PoolFacts
from .sizing import CPU_QUANTITY, QUANTITY, check_pool_fit, check_resources

if TYPE_CHECKING:
    from .workloads import VolumeConfig

# Pods are named <name>-<replicaset hash>-<5 chars>; the Service and policy take the name too.
MAX_SERVING_NAME = 40
# The placeholder for the artifacts bucket, whose name is known only once it exists (braces
# cannot appear in a bucket name, so it never means another bucket).
ARTIFACTS_BUCKET = "{artifactsBucket}"
MODELS_PREFIX = "models/"
# vLLM's --max-model-len is a token count; above this no Llama-class model has positions.
MAX_MODEL_LEN = 1 << 20
# The names other objects of the jobs namespace already take (the dev pod's Service).
TAKEN_NAMES = ("dev-pod",)
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
MODEL_FORMS = (
    "s3://{artifactsBucket}/models/<path> (the artifacts bucket), volume://<volume>/<path>, "
    "or hf://<org>/<name>[@<revision>]"
)


@dataclass(frozen=True)
class ModelSource:
    """Where a served model comes from, parsed from `model`."""

    kind: Literal["s3", "volume", "hub"]
    location: str  # s3: the key prefix under models/; volume: the path; hub: org/name
    bucket: str | None = None  # s3: the bucket as written (ARTIFACTS_BUCKET or its real name)
    volume: str | None = None  # volume: the volume's name
    revision: str | None = None  # hub: a branch, tag or commit


def parse_model(model: str) -> ModelSource | str:
    """The model's source, or why `model` is none of the forms (MODEL_FORMS)."""
    scheme, sep, rest = model.partition("://")
    if not sep or scheme not in ("s3", "volume", "hf"):
        return f"expected {MODEL_FORMS}"
    if scheme == "hf":
        repo, _, revision = rest.partition("@")
        if not HUB_ID.match(repo):
            return "expected a hub id hf://<org>/<name>, e.g. hf://meta-llama/Llama-3.2-1B"
        if "@" in rest and not REVISION.match(revision):
            return "expected a revision after @ (a branch, tag or commit)"
        return ModelSource("hub", repo, revision=revision or None)
    head, _, path = rest.partition("/")
    path = path.strip("/")
    if not head or not path or ".." in path.split("/"):
        where = "<bucket>/models/<path>" if scheme == "s3" else "<volume>/<path>"
        return f"expected {scheme}://{where} (a directory holding config.json), without '..'"
    if scheme == "volume":
        return ModelSource("volume", path, volume=head)
    if not (path + "/").startswith(MODELS_PREFIX) or path == MODELS_PREFIX.rstrip("/"):
        return (
            "a served model is read from the artifacts bucket's models/ (what an export "
            "writes, the only prefix the serving role may read): s3://{artifactsBucket}/models/"
            "<path>"
        )
    return ModelSource("s3", path, bucket=head)


class ServingJobConfig(_Model):
    model: str
    node_pool: str
    gpus: int = Field(default=1, ge=1)  # per replica, all on one node
    # 0: declared stopped, no pod and no GPU node (as a suspended job); the default, so a first
    # `pulumi up` runs no GPU until the stack says how many.
    replicas: int = Field(default=0, ge=0)
    max_model_len: int = Field(ge=16, le=MAX_MODEL_LEN)
    # Must divide gpus; default gpus. Below gpus, each replica runs gpus / tensorParallelSize
    # engines side by side (vLLM's --data-parallel-size) behind its one API server.
    tensor_parallel_size: int | None = Field(default=None, ge=1)
    # An ECR image by digest from image.allowedRepositories, in place of the pinned vLLM image.
    image: str | None = None
    hf_token: bool = False  # env HF_TOKEN from the Secret made of `trainstack:hfToken`
    cpu: str | None = Field(default=None, pattern=CPU_QUANTITY)
    memory: str | None = Field(default=None, pattern=QUANTITY)
    shm_size: str | None = Field(default=None, pattern=QUANTITY)

    @property
    def source(self) -> ModelSource:
        """The parsed model (check_serving has refused a model that does not parse)."""
        parsed = parse_model(self.model)
        if isinstance(parsed, str):
            raise ValueError(f"{self.model!r}: {parsed}")
        return parsed

    @property
    def tp(self) -> int:
        return self.tensor_parallel_size or self.gpus

    @property
    def data_parallel(self) -> int:
        """Engines per replica: the GPUs one tensor-parallel group leaves over."""
        return self.gpus // self.tp

    @property
    def running(self) -> bool:
        return self.replicas > 0


def _check_model(
    path: tuple,
    s: ServingJobConfig,
    volumes: Mapping[str, VolumeConfig],
    *,
    artifacts: bool,
    bucket_prefix: str,
) -> list[str]:
    where = f"{key(*path, 'model')} = {s.model!r}"
    parsed = parse_model(s.model)
    if isinstance(parsed, str):
        return [f"{where}: {parsed}"]
    if parsed.kind == "s3":
        if not artifacts:
            return [
                f"{where}: no artifacts bucket; enable {key('artifacts', 'enabled')}, or "
                "serve from volume:// or hf://"
            ]
        if parsed.bucket != ARTIFACTS_BUCKET and not (parsed.bucket or "").startswith(
            bucket_prefix
        ):
            return [
                f"{where}: not the stack's artifacts bucket ({bucket_prefix}...); write "
                f"s3://{ARTIFACTS_BUCKET}/{parsed.location} (the serving role reads that bucket "
                "only)"
            ]
    if parsed.kind == "volume":
        volume = volumes.get(str(parsed.volume))
        if volume is None:
            return [unknown_volume(where, parsed.volume, volumes)]
        if not volume.shared:
            return [
                f"{where}: volume {parsed.volume!r} is EBS, which attaches to one node at a "
                "time (the job that wrote it, or one replica); serve from an fsx or efs "
                "volume, or from s3://"
            ]
    if parsed.kind == "hub" and not s.hf_token:
        return [
            f"{where}: a hub model is downloaded with the stack's token (gated models such as "
            f"meta-llama need it); set {key(*path, 'hfToken')}: true"
        ]
    return []


def check_serving(
    name: str,
    s: ServingJobConfig,
    pools: dict[str, PoolFacts],
    volumes: Mapping[str, VolumeConfig],
    secrets: set[str],
    *,
    artifacts: bool,
    bucket_prefix: str,
    allowed_images: list[str],
) -> list[str]:
    """Every check of one served model: its name, model, pool fit, parallelism and image."""
    path = ("servingJobs", name)
    issues = dns_name(path, name, max_len=MAX_SERVING_NAME, why="pod names add suffixes")
    if name in TAKEN_NAMES:
        issues.append(f"{key(*path)}: name {name!r} is the dev pod's Service; choose another")
    issues += _check_model(path, s, volumes, artifacts=artifacts, bucket_prefix=bucket_prefix)
    if s.tensor_parallel_size is not None and s.gpus % s.tensor_parallel_size:
        divisors = [d for d in range(1, s.gpus + 1) if s.gpus % d == 0]
        issues.append(
            f"{key(*path, 'tensorParallelSize')} = {s.tensor_parallel_size}: must divide "
            f"gpus ({s.gpus}), so every GPU of a replica serves; allowed: "
            f"{', '.join(map(str, divisors))}"
        )
    pool = pools.get(s.node_pool)
    if pool is None:
        issues.append(unknown_pool(key(*path, "nodePool"), s.node_pool, pools))
    else:
        fit = check_pool_fit((*path, "gpus"), pool, s.gpus)
        issues += fit or check_resources(path, pool, s.gpus, s.cpu, s.memory, s.shm_size)
        if pool.max_gpus is not None and s.replicas * s.gpus > pool.max_gpus:
            issues.append(
                f"{key(*path, 'replicas')} = {s.replicas}: {s.replicas} x {s.gpus} GPUs is "
                f"above the {pool.max_gpus} GPUs pool {pool.name!r} can have"
            )
    issues += hf_token_secret(path, s.hf_token, secrets)
    if s.image is not None:
        issues += _check_image(path, s.image, allowed_images)
    return issues


def _check_image(path: tuple, image: str, allowed: list[str]) -> list[str]:
    where = f"{key(*path, 'image')} = {image!r}"
    repo, _, digest = image.partition("@")
    if not re.match(ECR_REPOSITORY, repo) or not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        return [
            f"{where}: expected an ECR image by digest, <account>.dkr.ecr.<region>."
            "amazonaws.com/<repository>@sha256:<64 hex>; leave image unset for the pinned "
            "vLLM image"
        ]
    if repo not in [r.rstrip("/") for r in allowed]:
        return [
            f"{where}: repository {repo!r} is not in {key('image', 'allowedRepositories')} "
            f"({', '.join(allowed) or 'empty'}); add it there"
        ]
    return []


def check_engine_credential(
    serving: dict[str, ServingJobConfig], docker_hub_user: str | None, secrets: set[str]
) -> list[str]:
    """The pinned image is pulled through ECR from Docker Hub, which needs an account's access
    token (components/engine_image.py): only once a server that runs it has replicas."""
    users = [n for n, s in serving.items() if s.image is None and s.running]
    if not users:
        return []
    why = (
        f"{key('servingJobs', users[0], 'replicas')} runs the pinned vLLM image, which ECR "
        "pulls from Docker Hub with an account's access token"
    )
    issues = []
    if not docker_hub_user:
        issues.append(
            f"{key('dockerHubUser')}: missing; {why}: run `pulumi config set "
            "trainstack:dockerHubUser <user>`"
        )
    if "dockerHubToken" not in secrets:
        issues.append(
            f"{key('dockerHubToken')}: missing; {why}: run `pulumi config set --secret "
            "trainstack:dockerHubToken dckr_pat_...`"
        )
    return issues
