"""A model export in S3 (s3://<artifactsBucket>/models/<job>/) that a reader copies whole, even
while a newer export of the same job uploads over it. The bucket is versioned
(components/buckets.py): replacing or deleting an object keeps its old bytes as a noncurrent
version, which a GetObject naming its VersionId still returns.

The writer (rank 0 at the end of a run, trainer/s3_sync.py):
1. uploads every file of the export directory to `PREFIX/<path>`, each marked with this upload's
   random token in its metadata, and reads back each object's VersionId and size with a HEAD
   (boto3's upload_file, multipart above 8 MiB, does not return the VersionId); an object that
   does not carry the token was replaced by another writer, and the upload fails;
2. PUTs `PREFIX/trainstack-export.json` last: {"files": {<path>: {"size", "version_id"}},
   "step", "written"}. One PutObject is atomic, so this is the commit point: the export a reader
   finds is the one the manifest names, and no other;
3. deletes the objects under PREFIX that the new manifest does not list (the previous export's
   extra shards); they stay as noncurrent versions for a reader still copying by the old manifest.

A reader (trainer/model_fetch.py, trainer/init_s3.py) reads the manifest first and fetches exactly
the versions it lists, checking each size; a listed version that is gone is an ExportError naming
the file. A prefix without a manifest (a directory uploaded with `aws s3 sync`) is copied as it is
listed, with one line saying that copy is not protected against a concurrent upload.

The bucket's lifecycle keeps a noncurrent version for days (components/artifacts.py
NONCURRENT_DAYS), far longer than a copy takes. In a bucket without versioning the manifest holds
no version ids: readers then fetch the current objects and only the size check guards them.

The reader copies the manifest into its directory first; a copy that starts again (a restarted
init container, a resumed download) reuses a file only if that earlier manifest listed the same
version, and removes the files of that earlier export the new one does not have.

IAM: a GetObject or HeadObject with a VersionId needs s3:GetObjectVersion, not s3:GetObject
(AWS S3 API reference, GetObject `versionId`); components/artifacts_access.py grants it on
`models/` to the roles that read models.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from . import s3_store

MANIFEST = "trainstack-export.json"
FORMAT = 1
TOKEN_KEY = "trainstack-upload"  # user metadata; S3 returns its keys lowercased
PART = ".part"


class ExportError(Exception):
    """The bucket does not hold what a manifest lists (a version gone, a size that differs), a
    manifest that cannot be read, or another writer's upload in the way: permanent."""


@dataclass(frozen=True)
class Entry:
    size: int
    version_id: str | None  # None: the object's current bytes (no manifest, or no versioning)

    def as_json(self) -> dict:
        return {"size": self.size, "version_id": self.version_id}


@dataclass(frozen=True)
class Export:
    """What a reader copies: the manifest's files, or the prefix's listing when it has none."""

    files: dict[str, Entry]
    manifest: dict | None  # the manifest as read; None: a prefix without one


def _base(prefix: str) -> str:
    return f"{prefix}/" if prefix else ""


def _version(head: dict) -> str | None:
    # An unversioned bucket returns no VersionId; a suspended one returns "null".
    v = head.get("VersionId")
    return None if v in (None, "null") else v


# ------------------------------------------------------------------------------------ writer


def upload(
    directory: str | Path,
    url: str,
    *,
    step: int | None = None,
    s3=None,
    say: Callable[[str], None] = lambda _: None,
) -> str:
    """The export directory to s3://BUCKET/PREFIX/ under a manifest written last; returns the
    prefix's URL."""
    s3 = s3 or s3_store.client()
    bucket, prefix = s3_store.split_url(url)
    base = _base(prefix)
    directory = Path(directory)
    token = uuid.uuid4().hex
    files: dict[str, Entry] = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = path.relative_to(directory).as_posix()
        if rel == MANIFEST:  # a fetched copy's manifest: this upload writes its own
            continue
        size = path.stat().st_size
        s3.upload_file(str(path), bucket, base + rel, ExtraArgs={"Metadata": {TOKEN_KEY: token}})
        head = s3.head_object(Bucket=bucket, Key=base + rel)
        if head.get("Metadata", {}).get(TOKEN_KEY) != token or head["ContentLength"] != size:
            raise ExportError(
                f"s3://{bucket}/{base}{rel} was replaced by another upload during this one: "
                "two writers export to the same prefix"
            )
        files[rel] = Entry(size, _version(head))
    manifest = {
        "format": FORMAT,
        "step": step,
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": {rel: e.as_json() for rel, e in files.items()},
    }
    s3.put_object(
        Bucket=bucket,
        Key=base + MANIFEST,
        Body=json.dumps(manifest, indent=1, sort_keys=True).encode(),
        ContentType="application/json",
    )  # the commit point
    stale = [
        o["Key"]
        for o in s3_store.list_objects(s3, bucket, base)
        if o["Key"][len(base) :] not in files and o["Key"] != base + MANIFEST
    ]
    for key in stale:
        s3.delete_object(Bucket=bucket, Key=key)
    if any(e.version_id is None for e in files.values()):
        say(
            f"s3: s3://{bucket}/{base} keeps no object versions: a reader copying it while a "
            "later export uploads is not protected"
        )
    return f"s3://{bucket}/{base}"


# ----------------------------------------------------------------------------------- readers


def _outside(rel: str) -> bool:
    """A path that would land outside the copy's directory."""
    return rel.startswith("/") or ".." in PurePosixPath(rel).parts


def _parse(manifest: dict, where: str) -> dict[str, Entry]:
    try:
        return {
            str(rel): Entry(int(e["size"]), e.get("version_id"))
            for rel, e in manifest["files"].items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ExportError(f"{where}: not a {MANIFEST} this trainer reads ({err!r})") from None


def read_manifest(s3, bucket: str, prefix: str) -> dict | None:
    """The prefix's manifest, or None when it has none."""
    from botocore.exceptions import ClientError

    key = _base(prefix) + MANIFEST
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    try:
        return json.loads(body)
    except ValueError:
        raise ExportError(f"s3://{bucket}/{key}: not JSON") from None


def listing(url: str, s3, say: Callable[[str], None]) -> Export:
    """What to copy from `url`: the manifest's files at their versions, or, without a manifest,
    every object now under the prefix (S3's folder placeholders left out)."""
    bucket, prefix = s3_store.split_url(url)
    base = _base(prefix)
    manifest = read_manifest(s3, bucket, prefix)
    if manifest is not None:
        where = f"s3://{bucket}/{base}{MANIFEST}"
        files = _parse(manifest, where)
        if manifest.get("format") != FORMAT:  # a later trainer's layout: not guessed at
            raise ExportError(
                f"{where}: format {manifest.get('format')!r}, this one reads {FORMAT}"
            )
    else:
        files = {
            o["Key"][len(base) :]: Entry(o["Size"], None)
            for o in s3_store.list_objects(s3, bucket, base)
            if not o["Key"].endswith("/")
        }
        say(
            f"{url}: no {MANIFEST} under it: copying the objects listed now, which an upload "
            "running at the same time could change (not protected against concurrent writes)"
        )
    unsafe = [rel for rel in files if _outside(rel)]
    if unsafe:
        raise ExportError(f"{url}: keys outside the prefix: {unsafe[:5]}")
    return Export(files, manifest)


def _local_manifest(dest: Path) -> dict[str, Entry]:
    """The files a previous copy into `dest` was made from (its manifest copy), or {}."""
    try:
        files = _parse(json.loads((dest / MANIFEST).read_text()), str(dest / MANIFEST))
    except (OSError, ValueError, ExportError):
        return {}
    return {rel: e for rel, e in files.items() if not _outside(rel)}


def _write_atomic(path: Path, data: bytes) -> None:
    part = path.with_name(path.name + PART)
    part.write_bytes(data)
    os.replace(part, path)


def download(s3, url: str, rel: str, entry: Entry, target: Path) -> None:
    """One file at its listed version to `target`, through `<target>.part`, size checked."""
    from botocore.exceptions import ClientError

    bucket, prefix = s3_store.split_url(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + PART)
    extra = {"VersionId": entry.version_id} if entry.version_id else None
    try:
        s3.download_file(bucket, _base(prefix) + rel, str(part), ExtraArgs=extra)
    except ClientError as err:
        error = err.response.get("Error", {})
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if entry.version_id and (
            status == 404 or error.get("Code") in ("NoSuchVersion", "InvalidArgument")
        ):
            raise ExportError(
                f"{url}: {rel}: version {entry.version_id} listed in {MANIFEST} is gone "
                f"({error.get('Code', status)}); export the model again"
            ) from None
        raise
    got = part.stat().st_size
    if got != entry.size:
        part.unlink()
        raise ExportError(f"{url}: {rel}: {got} bytes, the listing says {entry.size}")
    os.replace(part, target)


def copy(
    s3,
    url: str,
    export: Export,
    dest: Path,
    *,
    resume: bool = False,
    on_plan: Callable[[dict[str, int]], None] = lambda _: None,
    on_file: Callable[[str, int], None] = lambda rel, size: None,
) -> list[Path]:
    """`export`'s files into `dest` by their paths under the prefix; returns them.

    resume: keep a file already in `dest` at its size (an earlier, cut-short attempt's), if the
    manifest that attempt copied lists the same version. Files an earlier copy's manifest listed
    that this export does not have are removed, and so is every file about to be fetched, before
    the manifest copy is replaced: a name in `dest` never holds another export's bytes under
    this one's manifest."""
    dest.mkdir(parents=True, exist_ok=True)
    before = _local_manifest(dest)

    def complete(rel: str, entry: Entry) -> bool:
        local = dest / rel
        same = export.manifest is None or before.get(rel) == entry
        return resume and same and local.is_file() and local.stat().st_size == entry.size

    keep = {rel for rel, entry in export.files.items() if complete(rel, entry)}
    for rel in (set(before) | set(export.files)) - keep:
        (dest / rel).unlink(missing_ok=True)
    if export.manifest is None:
        (dest / MANIFEST).unlink(missing_ok=True)
    else:
        _write_atomic(dest / MANIFEST, json.dumps(export.manifest, indent=1).encode())
    todo = {rel: e.size for rel, e in export.files.items() if rel not in keep}
    on_plan(todo)
    for rel in sorted(todo):
        on_file(rel, todo[rel])
        download(s3, url, rel, export.files[rel], dest / rel)
    return [dest / rel for rel in sorted(export.files)]
