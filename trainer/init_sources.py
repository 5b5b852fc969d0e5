"""Where `--model.init-from` points, made a local directory: a local or mounted directory as it
is, a Hugging Face Hub model (`hf://ORG/NAME[@REVISION]`, REVISION a branch, tag or commit,
default `main`) or a model directory in S3 (`s3://BUCKET/PREFIX/`). `resolve_init_from` is the
one place a spec becomes a directory.

Each lands in its own directory under `cache_root` (a directory on the job's volume):
`hf/ORG/NAME/REVISION` (REVISION percent-quoted: `refs/pr/1` is `refs%2Fpr%2F1`) and
`s3/BUCKET/PREFIX`. Fetched once for the job and kept (trainer/download_once.py): a restart, a
later run, or another job with the same source on the same volume finds it complete and fetches
nothing. A branch (`main`) is resolved to its commit at the first download, which the completion
marker records, and that copy is used until its directory is deleted; name a commit or a tag for
a run that must be reproducible elsewhere.

Every rank calls `materialize` with the same arguments, before the model is built; see
download_once.py for who downloads and how the others wait.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from . import download_once, init_hub, init_s3, s3_store
from .config_sections import ConfigError

KEY = "model.init_from"
HF = "hf://"
S3 = "s3://"
DEFAULT_REVISION = "main"
# How long the ranks that do not download wait at the barrier for the one that does: Llama 3.1
# 8B is 16 GB of bf16 safetensors, about 9 minutes at 30 MB/s; the hub is often slower.
DOWNLOAD_TIMEOUT = timedelta(hours=2)
# Then how long such a rank looks for the finished directory: a network file system may show
# another node's rename a moment late.
VISIBLE_TIMEOUT_S = 60.0
# The hub's repo names: letters, digits, `-`, `_`, `.` (huggingface_hub 2.4.0
# utils/_validators.py REPO_ID_REGEX allows the same characters).
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_HF_SPEC = re.compile(rf"(?P<org>{_NAME})/(?P<name>{_NAME})(?:@(?P<revision>\S+))?")


@dataclass(frozen=True)
class Source:
    spec: str
    subdir: PurePosixPath  # where it lands under cache_root
    repo_id: str = ""  # hf
    revision: str = ""  # hf
    url: str = ""  # s3


def is_remote(spec: str) -> bool:
    """A spec this module materializes (anything else is a local or mounted directory)."""
    return spec.startswith((HF, S3))


def _bad(spec: str, why: str) -> ConfigError:
    return ConfigError([f"model.init_from={spec}: {why}"])


def parse(spec: str) -> Source:
    if spec.startswith(HF):
        m = _HF_SPEC.fullmatch(spec[len(HF) :])
        # A revision of dots alone would name a directory outside the cache once quoted.
        if not m or (m["revision"] or "main").strip("./") == "":
            raise _bad(spec, "expected hf://ORG/NAME or hf://ORG/NAME@REVISION")
        revision = m["revision"] or DEFAULT_REVISION
        return Source(
            spec,
            PurePosixPath("hf", m["org"], m["name"], quote(revision, safe="")),
            repo_id=f"{m['org']}/{m['name']}",
            revision=revision,
        )
    if spec.startswith(S3):
        try:
            bucket, prefix = s3_store.split_url(spec)
        except ValueError as e:
            raise _bad(spec, str(e)) from None
        parts = [p for p in prefix.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise _bad(spec, "expected s3://BUCKET/PREFIX/ naming a model directory")
        return Source(spec, PurePosixPath("s3", bucket, *parts), url=f"s3://{bucket}/{prefix}")
    raise _bad(spec, "not an hf:// or s3:// source")


def materialize(
    spec: str,
    cache_root: Path,
    *,
    token: str | None,
    rank: int,
    barrier: Callable[[], None],
    timeout_s: float,
    local_rank: int = 0,
    shared: bool = True,
    endpoint: str | None = None,
) -> Path:
    """The local directory holding `spec`'s model, complete on this rank.

    token: the hub token (env HF_TOKEN in the job's pods); None or "" for none.
    rank, local_rank: this process's global and node-local rank.
    shared: `cache_root` is one file system for every node (the stack's RWX checkpoint volume):
        global rank 0 downloads. False (node-local disks): local rank 0 of each node downloads.
    barrier: every rank of the job; its timeout must cover the download.
    timeout_s: how long a rank that did not download looks for the directory after the barrier.
    endpoint: the hub's URL; None: huggingface_hub's default (env HF_ENDPOINT, else the hub).
    """
    source = parse(spec)
    final = Path(cache_root) / source.subdir
    if source.url:
        fetch = partial(init_s3.fetch, source.url)
    else:
        fetch = partial(
            init_hub.fetch, source.repo_id, source.revision, token=token, endpoint=endpoint
        )
    return download_once.materialize_once(
        final,
        fetch,
        label=spec,
        downloads=(rank == 0) if shared else (local_rank == 0),
        barrier=barrier,
        timeout_s=timeout_s,
    )


def cache_root(checkpoint_dir: str | Path) -> Path:
    """Where remote specs land: beside the job's checkpoint directory, on the same volume (the
    stack mounts one RWX volume for every node of a job), not inside it, where the S3 restore
    expects an empty directory and checkpoints alone."""
    return Path(checkpoint_dir).parent / "init-from"


def resolve_init_from(
    spec: str,
    *,
    cache: Path | None = None,
    rank: int = 0,
    local_rank: int = 0,
    barrier: Callable[[], None] | None = None,
) -> Path:
    """The local directory holding config.json and the *.safetensors weights of `spec`. A
    remote spec is fetched once for the job into `cache` (every rank calls this, with a
    `barrier` over every rank whose timeout covers the download); the token is the job's
    HF_TOKEN (the stack secret hfToken), the hub huggingface_hub's endpoint (HF_ENDPOINT)."""
    if is_remote(spec):
        if cache is None:
            raise _bad(spec, "a hub or S3 model needs a directory to download it to")
        spec = str(
            materialize(
                spec,
                cache,
                token=os.environ.get("HF_TOKEN") or None,
                rank=rank,
                local_rank=local_rank,
                barrier=barrier or (lambda: None),
                timeout_s=VISIBLE_TIMEOUT_S,
                endpoint=os.environ.get("HF_ENDPOINT") or None,
            )
        )
    return local_directory(spec)


def local_directory(spec: str) -> Path:
    path = Path(spec).expanduser()
    if path.is_file():
        hint = (
            " (a .pt export of an older trainer cannot be loaded: export its checkpoint again "
            "with `python -m trainer.export CHECKPOINT DIR`)"
            if path.suffix == ".pt"
            else ""
        )
        raise ConfigError([f"{KEY}={spec}: a file, not a model directory{hint}"])
    if not path.is_dir():
        raise ConfigError([f"{KEY}={spec}: no such directory"])
    if not (path / "config.json").is_file():
        raise ConfigError([f"{KEY}={spec}: no config.json in this directory"])
    return path
