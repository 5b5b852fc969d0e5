"""A model directory in S3 (an export under s3://<artifactsBucket>/models/<job>/) copied into a
local directory: one whole export, even while a newer one uploads to the same prefix (the files
and versions its manifest lists; a prefix without one is copied as listed, with a line saying so:
trainer/s3_models.py), each file keeping its path below the prefix.

The bucket access is trainer/s3_store.py's (boto3, credentials from EKS Pod Identity, and
AWS_ENDPOINT_URL honoured). A refused or missing bucket is a botocore ClientError with a 4xx,
which train.main already turns into exit 2 (trainer/permanent_errors.py); connection errors
stay retryable. A prefix with no config.json under it is not a model directory, and a listed
version that is gone cannot be copied: ConfigError.
"""

from __future__ import annotations

from pathlib import Path

from . import s3_models, s3_store
from .config_sections import ConfigError
from .download_progress import DownloadProgress

CONFIG = "config.json"


def fetch(url: str, dest: Path, progress: DownloadProgress, s3=None) -> dict:
    """The export at `url` into `dest`, keeping what a cut-short attempt copied of the same
    export; returns {} (the file list is the marker's)."""
    s3 = s3 or s3_store.client()
    try:
        export = s3_models.listing(url, s3, progress.line)
        if CONFIG not in export.files:
            found = ", ".join(sorted(export.files)[:20]) or "no objects"
            raise ConfigError(
                [
                    f"model.init_from={url}: no {CONFIG} under it (expected a model directory: "
                    f"{CONFIG} and *.safetensors); found {found}"
                ]
            )
        s3_models.copy(
            s3, url, export, dest, resume=True, on_plan=progress.plan, on_file=progress.file
        )
    except s3_models.ExportError as err:
        raise ConfigError([f"model.init_from={err}"]) from None
    return {}
