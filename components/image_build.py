"""ImageBuild: a dynamic resource whose create/update builds the trainer image in CodeBuild.

The program hashes the trainer source (`image_builder.source_hash`) and passes the hash as an
input, so `pulumi preview` shows an update exactly when the source changed, and `pulumi up` runs
the build in the provider (imagebuild/builder.py). Outputs: `image`
(`<repository url>@sha256:...`), `digest`, `tag` (`src-<hash[:12]>`), `build_id` (None when the
tag was already in ECR) and `source_hash`.

The provider runs in its own process (`pulumi-resource-pulumi-python`), from a dill pickle of the
provider object stored in the state. So it holds no attributes (no boto3 client or session is
captured); clients are made inside each method for the region named by the inputs.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pulumi
import pulumi.dynamic as dyn
from pulumi.runtime.rpc import UNKNOWN  # what check/diff see for a value not known in preview

from imagebuild import builder as image_builder

INPUTS = (
    "project_name",
    "bucket",
    "repository_name",
    "repository_url",
    "region",
    "source_root",
    "source_hash",
    "max_attempts",
    "timeout_minutes",
)
OUTPUTS = ("image", "digest", "tag", "build_id", "source_hash")
# A new repository is a new image: replace. A new source hash is a new build: update.
REPLACE_KEYS = ("repository_name", "repository_url")
UPDATE_KEYS = ("source_hash",)
# What CodeBuild accepts as a build timeout (minutes).
TIMEOUT_RANGE = (5, 2160)
MAX_ATTEMPTS_RANGE = (1, 10)
_HASH = re.compile(r"^[0-9a-f]{64}$")
_REPO_URL = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+$")


def _progress(message: str) -> None:
    """Show a build step to the `pulumi up` user.

    The provider process has no engine connection, so `pulumi.log` cannot reach the CLI from
    here: its info() only falls back to printing to stderr and debug() drops the message. What
    does reach it is the process's own output: since pulumi 3.146 (pulumi/pulumi#18253) the CLI
    passes the unstructured stdout/stderr of dynamic providers through as info diagnostics on
    the resource (other plugins' output is shown only at debug level). Flushed per line, so a
    phase change is written when it happens, not when a buffer fills or the process exits.
    """
    print(f"trainer image: {message}", file=sys.stderr, flush=True)


def _known(value: Any) -> bool:
    return value is not None and value != UNKNOWN


def _failures(news: dict[str, Any]) -> list[dyn.CheckFailure]:
    """What is wrong with the inputs (unknown preview values are not judged)."""
    out: list[dyn.CheckFailure] = []

    def fail(key: str, reason: str) -> None:
        out.append(dyn.CheckFailure(key, reason))

    for key in ("project_name", "bucket", "repository_name", "region", "source_root"):
        value = news.get(key)
        if _known(value) and (not isinstance(value, str) or not value):
            fail(key, f"must be a non-empty string, got {value!r}")
    for key in INPUTS:
        if news.get(key) is None:
            fail(key, "is required")
    root = news.get("source_root")
    if _known(root) and isinstance(root, str) and not Path(root).is_absolute():
        fail("source_root", f"must be an absolute path, got {root!r}")
    digest = news.get("source_hash")
    if _known(digest) and not (isinstance(digest, str) and _HASH.match(digest)):
        fail("source_hash", "must be the sha256 hex digest from image_builder.source_hash")
    url = news.get("repository_url")
    if _known(url) and not (isinstance(url, str) and _REPO_URL.match(url)):
        fail("repository_url", f"must be an ECR repository URL, got {url!r}")
    for key, (low, high) in (
        ("max_attempts", MAX_ATTEMPTS_RANGE),
        ("timeout_minutes", TIMEOUT_RANGE),
    ):
        value = news.get(key)
        if _known(value) and not (
            isinstance(value, (int, float)) and value == int(value) and low <= value <= high
        ):
            fail(key, f"must be a whole number in [{low}, {high}], got {value!r}")
    return out


def _changed(olds: dict[str, Any], news: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    # An unknown new value (preview, repository being replaced) counts as a change.
    return [k for k in keys if not _known(news.get(k)) or olds.get(k) != news.get(k)]


class ImageBuildProvider(dyn.ResourceProvider):
    # The pickled provider holds only a reference to this class: nothing secret in it, and a
    # plain value keeps the state readable.
    serialize_as_secret_always = False

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        return dyn.CheckResult(news, _failures(news))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        replaces = _changed(olds, news, REPLACE_KEYS)
        updates = _changed(olds, news, UPDATE_KEYS)
        return dyn.DiffResult(
            changes=bool(replaces or updates), replaces=replaces, delete_before_replace=False
        )

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        outs = self._build(props)
        return dyn.CreateResult(f"{props['repository_name']}@{outs['digest']}", outs)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        return dyn.UpdateResult(self._build(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # Nothing to delete: the image stays in ECR. Pods and job specs name it by digest and
        # may still pull it after a replacement, and the repository's lifecycle policy expires
        # old tags (keeps the newest N), so images do not pile up.
        return None

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    def _clients(region: str) -> image_builder.Clients:
        import boto3  # here, not at module level: nothing boto3 ends up in the pickle

        return image_builder.Clients.from_session(boto3.session.Session(region_name=region))

    def _build(self, props: dict[str, Any]) -> dict[str, Any]:
        result = image_builder.build(
            self._clients(props["region"]),
            project=props["project_name"],
            bucket=props["bucket"],
            repository=props["repository_name"],
            root=props["source_root"],
            max_attempts=int(props["max_attempts"]),
            timeout_minutes=int(props["timeout_minutes"]),
            progress=_progress,
            repository_url=props["repository_url"],
            expected_hash=props["source_hash"],
        )
        inputs = {k: props[k] for k in INPUTS}
        return {
            **inputs,
            "image": result.image,
            "digest": result.digest,
            "tag": result.tag,
            "build_id": result.build_id,
            "source_hash": result.source_hash,
        }


@dataclass
class ImageBuildArgs:
    project_name: pulumi.Input[str]
    bucket: pulumi.Input[str]
    repository_name: pulumi.Input[str]
    repository_url: pulumi.Input[str]
    region: pulumi.Input[str]
    source_root: str  # absolute path of the checkout the program runs from
    source_hash: str  # image_builder.source_hash(source_root), computed by the program
    max_attempts: pulumi.Input[int] = 3
    timeout_minutes: pulumi.Input[int] = 60


class ImageBuild(dyn.Resource):
    """The trainer image built from `source_root` by the CodeBuild project, pushed to ECR."""

    image: pulumi.Output[str]
    digest: pulumi.Output[str]
    tag: pulumi.Output[str]
    build_id: pulumi.Output[str | None]
    source_hash: pulumi.Output[str]

    def __init__(self, name: str, args: ImageBuildArgs, opts: pulumi.ResourceOptions | None = None):
        # Not dataclasses.asdict: it deep-copies values, and these are Outputs.
        props: dict[str, Any] = {f.name: getattr(args, f.name) for f in fields(args)}
        # Declared as None so the SDK exposes them as outputs of this resource.
        props.update({k: None for k in OUTPUTS if k not in props})
        super().__init__(ImageBuildProvider(), name, props, opts)
