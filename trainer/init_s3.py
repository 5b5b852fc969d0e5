"""A model directory in S3 (an export under s3://<artifactsBucket>/models/<job>/) copied into a
local directory: every object under the prefix, keeping its path below it.

The bucket access is trainer/s3_store.py's (boto3, credentials from EKS Pod Identity, and
AWS_ENDPOINT_URL honoured). A refused or missing bucket is a botocore ClientError with a 4xx,
which train.main already turns into exit 2 (trainer/permanent_errors.py); connection errors
stay retryable. A prefix with no config.json under it is not a model directory: ConfigError.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from . import s3_store
from .config_sections import ConfigError
from .download_progress import DownloadProgress

CONFIG = "config.json"


def model_objects(s3, bucket: str, prefix: str) -> dict[str, int]:
    """{path below the prefix: size} of the objects under `prefix/` (a sibling prefix such as
    `models/job2` is not under `models/job`); S3's folder placeholders are left out."""
    under = f"{prefix}/" if prefix else ""
    return {
        o["Key"][len(under) :]: o["Size"]
        for o in s3_store.list_objects(s3, bucket, under)
        if not o["Key"].endswith("/")
    }


def fetch(url: str, dest: Path, progress: DownloadProgress, s3=None) -> dict:
    """Every object under `url` into `dest`; returns {} (the file list is the marker's)."""
    s3 = s3 or s3_store.client()
    bucket, prefix = s3_store.split_url(url)
    objects = model_objects(s3, bucket, prefix)
    if CONFIG not in objects:
        found = ", ".join(sorted(objects)[:20]) or "no objects"
        raise ConfigError(
            [
                f"model.init_from={url}: no {CONFIG} under it (expected a model directory: "
                f"{CONFIG} and *.safetensors); found {found}"
            ]
        )
    unsafe = [rel for rel in objects if ".." in PurePosixPath(rel).parts]
    if unsafe:
        raise ConfigError([f"model.init_from={url}: keys outside the prefix: {unsafe[:5]}"])
    base = f"{prefix}/" if prefix else ""
    # What a cut-short attempt left at its full size is kept (downloads land whole by rename).
    todo = {
        rel: size
        for rel, size in objects.items()
        if not ((dest / rel).is_file() and (dest / rel).stat().st_size == size)
    }
    progress.plan(todo)
    for rel, size in sorted(todo.items()):
        progress.file(rel, size)
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        s3.download_file(bucket, base + rel, str(part))
        os.replace(part, target)
    return {}
