"""Checkpoints and models in S3: uploads a reader never mistakes for complete, and the restore
that lets a job whose volume is gone resume from the bucket.

Protocol, under `checkpoint.upload` = s3://BUCKET/PREFIX:

- A checkpoint `step_NNNNNNNN` (already complete on local disk, trainer/checkpoint.py) is sent
  file by file to `PREFIX/step_NNNNNNNN/<relative path>`; then, LAST, rank 0 writes
  `PREFIX/step_NNNNNNNN/MANIFEST.json`: {"step": N, "files": {<relative path>: <size>}}.
  The manifest is the commit point: a step without one (an upload cut short by a SIGKILL, a lost
  node, a full quota) is not a checkpoint, whatever objects it holds. Every rank sends its own
  files (trainer/s3_upload.py).
- Restore lists `PREFIX/`, reads the manifests newest step first, and takes the first step whose
  every listed object exists with the listed size (S3 PutObject is atomic per object: an object
  is either absent or whole). It downloads into a hidden `.tmp-s3-step_NNNNNNNN` in the local
  checkpoint directory and renames it to `step_NNNNNNNN`, so the local protocol holds as well
  (trainer/s3_restore.py, every rank downloading a share).
- The export, a Hugging Face model directory (trainer/hf_export.py), goes to `models_url`
  under a manifest of object versions written last (trainer/s3_models.py): a reader copies one
  whole export even while the next one uploads.

boto3 finds credentials itself: from EKS Pod Identity in the cluster (the `training`
ServiceAccount, components/artifacts.py), and honours AWS_ENDPOINT_URL (tests use moto).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

MANIFEST = "MANIFEST.json"
STEP_PREFIX = "step_"


def split_url(url: str) -> tuple[str, str]:
    """s3://bucket/some/prefix -> (bucket, 'some/prefix') without a trailing slash."""
    u = urlparse(url)
    if u.scheme != "s3" or not u.netloc:
        raise ValueError(f"{url}: expected s3://BUCKET/PREFIX")
    return u.netloc, u.path.strip("/")


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def client():
    import boto3  # the trainer's only AWS dependency, imported when S3 is used

    return boto3.client("s3")


def list_objects(s3, bucket: str, prefix: str) -> Iterator[dict]:
    """Every object under `prefix`, page after page (a ListObjectsV2 call returns 1000 at most)."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def step_objects(s3, bucket: str, prefix: str) -> dict[str, dict[str, int]]:
    """{step directory: {key: size}} of the objects under PREFIX/step_*, in one listing."""
    found: dict[str, dict[str, int]] = {}
    for obj in list_objects(s3, bucket, _join(prefix, STEP_PREFIX)):
        step_dir = obj["Key"][len(prefix) + 1 if prefix else 0 :].partition("/")[0]
        found.setdefault(step_dir, {})[obj["Key"]] = obj["Size"]
    return found


def complete_steps(
    url: str, s3=None, listed: dict[str, dict[str, int]] | None = None
) -> list[tuple[int, dict]]:
    """(step, manifest) of every uploaded checkpoint whose objects match its manifest,
    oldest first. Steps without a manifest, or missing or short objects, are left out.
    `listed`: step_objects' answer, when the caller has listed the steps already."""
    s3 = s3 or client()
    bucket, prefix = split_url(url)
    if listed is None:
        listed = step_objects(s3, bucket, prefix)
    found = []
    for step_dir, objects in listed.items():
        base = _join(prefix, step_dir)
        if f"{base}/{MANIFEST}" not in objects:
            continue
        body = s3.get_object(Bucket=bucket, Key=f"{base}/{MANIFEST}")["Body"].read()
        manifest = json.loads(body)
        if all(objects.get(f"{base}/{rel}") == size for rel, size in manifest["files"].items()):
            found.append((int(manifest["step"]), manifest))
    return sorted(found, key=lambda t: t[0])


def models_url(url: str) -> str:
    """Where the export of a run uploading checkpoints to `url` goes: s3://B/checkpoints/JOB ->
    s3://B/models/JOB (the prefix the job role may write); any other prefix gets `/model`."""
    bucket, prefix = split_url(url)
    head, _, rest = prefix.partition("/")
    if head == "checkpoints":
        return f"s3://{bucket}/{_join('models', rest)}"
    return f"s3://{bucket}/{_join(prefix, 'model')}"


# ------------------------------------------------------------------------------------- data


DATA_SUFFIXES = (".txt", ".jsonl", ".json")


def data_objects(
    url: str, s3=None, suffixes: tuple[str, ...] = DATA_SUFFIXES
) -> list[tuple[str, int]]:
    """(key, size) of the data objects at `url` (one object, or everything under a prefix),
    sorted by key; the sizes let each rank compute its byte ranges without reading."""
    s3 = s3 or client()
    bucket, prefix = split_url(url)
    if prefix.endswith(suffixes):
        return [(prefix, s3.head_object(Bucket=bucket, Key=prefix)["ContentLength"])]
    under = _join(prefix) + "/" if prefix else ""
    objects = list_objects(s3, bucket, under)
    return sorted((o["Key"], o["Size"]) for o in objects if o["Key"].endswith(suffixes))


def data_keys(url: str, s3=None, suffixes: tuple[str, ...] = DATA_SUFFIXES) -> list[str]:
    """The data objects at `url`, sorted."""
    return [k for k, _ in data_objects(url, s3, suffixes)]


def read_chunks(bucket: str, key: str, start: int, s3=None, size: int = 1 << 20) -> Iterator[bytes]:
    """An object from byte `start` on, in ranged GETs of `size` bytes (`Range: bytes=a-b`, RFC
    9110 section 14.1.2): a reader of a shard in the middle of an object never transfers the bytes
    before it, and no connection stays open while the reader waits (a rank reads many shards at
    once, more than boto3's pool of 10 connections)."""
    s3 = s3 or client()
    total = None
    while total is None or start < total:
        resp = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{start + size - 1}")
        total = int(resp["ContentRange"].rpartition("/")[2])  # "bytes a-b/total"
        data = resp["Body"].read()
        if not data:
            return
        yield data
        start += len(data)


def download_prefix(
    url: str, dest: str | Path, s3=None, suffixes: tuple[str, ...] = DATA_SUFFIXES
) -> list[str]:
    """The data objects at `url` copied under `dest` (for Hugging Face `datasets`, which reads
    local files); returns their local paths in key order."""
    s3 = s3 or client()
    bucket, _ = split_url(url)
    out = []
    for key in data_keys(url, s3, suffixes):
        local = Path(dest) / bucket / key
        if not local.is_file():
            local.parent.mkdir(parents=True, exist_ok=True)
            tmp = local.with_name(local.name + ".part")
            s3.download_file(bucket, key, str(tmp))
            os.replace(tmp, local)
        out.append(str(local))
    return out
