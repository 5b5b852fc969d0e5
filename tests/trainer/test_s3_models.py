"""trainer/s3_models.py against moto's S3 with a versioned bucket, as components/buckets.py makes
every bucket: the export's readers (model_fetch, the vLLM pod's init container; init_s3, behind
--model.init-from) copy one whole export while the next one uploads over it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from trainer_support import moto_s3

from trainer import init_s3, model_fetch, s3_models
from trainer.config_sections import ConfigError
from trainer.download_progress import DownloadProgress

BUCKET = "ts-models"
UNVERSIONED = "ts-models-unversioned"

# v1 is sharded; v2 is one file, so v1's shards and index are stale once v2 is committed.
V1 = {
    "config.json": b'{"v": 1}',
    "model-00001-of-00002.safetensors": b"a" * 30,
    "model-00002-of-00002.safetensors": b"b" * 20,
    "model.safetensors.index.json": b'{"weight_map": {}}',
    "tokenizer.json": b"{}",
}
V2 = {
    "config.json": b'{"v": 2}',
    "model.safetensors": b"c" * 50,
    "tokenizer.json": b"[]",
}


@pytest.fixture(scope="module")
def s3():
    with moto_s3(BUCKET) as client:
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        client.create_bucket(Bucket=UNVERSIONED)
        yield client


def export_dir(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True)
    for rel, body in files.items():
        (root / rel).write_bytes(body)
    return root


def contents(root: Path) -> dict[str, bytes]:
    """The copy's model files (its manifest copy left out)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.name != s3_models.MANIFEST
    }


def current_keys(s3, prefix: str) -> set[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix) :] for o in listed}


class Interleaved:
    """A client that runs `hook` once, before its `after`-th call of `method`, then behaves as
    the client it wraps: one side of the protocol stopped at that point while the other runs."""

    def __init__(self, s3, method: str, after: int, hook):
        self._s3, self._method, self._left, self._hook = s3, method, after, hook

    def __getattr__(self, name):
        real = getattr(self._s3, name)
        if name != self._method:
            return real

        def call(*args, **kwargs):
            self._left -= 1
            if self._left == 0:
                self._hook()
            return real(*args, **kwargs)

        return call


def test_a_reader_copies_v1_whole_while_v2_uploads_and_after_v2_is_committed(s3, tmp_path):
    url = f"s3://{BUCKET}/models/race"
    s3_models.upload(export_dir(tmp_path / "v1", V1), url, step=10, s3=s3)
    v2 = export_dir(tmp_path / "v2", V2)

    # A reader that starts while v2 has uploaded config.json and model.safetensors (not yet its
    # manifest) copies v1: the files v2 replaced come from v1's versions.
    during = tmp_path / "during"
    writer = Interleaved(s3, "upload_file", 3, lambda: model_fetch.fetch(url, during, s3))
    s3_models.upload(v2, url, step=20, s3=writer)
    assert contents(during) == V1

    # A reader that read v1's manifest, then waited while v2 was committed and v1's stale shards
    # deleted, still copies exactly v1 (deleted and replaced objects are noncurrent versions).
    s3_models.upload(export_dir(tmp_path / "v1-again", V1), url, step=30, s3=s3)
    late = tmp_path / "late"
    reader = Interleaved(s3, "download_file", 1, lambda: s3_models.upload(v2, url, step=40, s3=s3))
    model_fetch.fetch(url, late, reader)
    assert contents(late) == V1
    assert json.loads((late / s3_models.MANIFEST).read_bytes())["step"] == 30

    # After v2's manifest: v2, and none of v1's stale shards, which are no current objects.
    after = tmp_path / "after"
    model_fetch.fetch(url, after, s3)
    assert contents(after) == V2
    assert current_keys(s3, "models/race/") == {*V2, s3_models.MANIFEST}
    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"models/race/{s3_models.MANIFEST}")["Body"].read()
    )
    assert manifest["step"] == 40
    assert {rel: e["size"] for rel, e in manifest["files"].items()} == {
        rel: len(body) for rel, body in V2.items()
    }

    # A copy into the directory that holds v1 (a restarted init container) leaves no v1 file.
    model_fetch.fetch(url, late, s3)
    assert contents(late) == V2


def test_init_from_resumes_only_files_of_the_same_export(s3, tmp_path):
    url = f"s3://{BUCKET}/models/resume"
    dest = tmp_path / "tmp-copy"
    progress = DownloadProgress(url, dest, say=lambda _: None)
    s3_models.upload(export_dir(tmp_path / "v1", V1), url, s3=s3)
    init_s3.fetch(url, dest, progress, s3)
    assert contents(dest) == V1

    # A second attempt on the same export fetches nothing again.
    gets = []
    counting = Interleaved(s3, "download_file", 1, lambda: gets.append(1))
    init_s3.fetch(url, dest, progress, counting)
    assert gets == [] and contents(dest) == V1

    # A newer export whose config.json has the same size as the copy's: fetched, not kept.
    same_size = {**V1, "config.json": b'{"v": 3}'}
    s3_models.upload(export_dir(tmp_path / "v3", same_size), url, s3=s3)
    init_s3.fetch(url, dest, progress, s3)
    assert contents(dest) == same_size


def test_a_listed_version_that_is_gone_is_an_error_naming_the_file(s3, tmp_path, capsys):
    url = f"s3://{BUCKET}/models/gone"
    s3_models.upload(export_dir(tmp_path / "v1", V1), url, s3=s3)
    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"models/gone/{s3_models.MANIFEST}")["Body"].read()
    )
    shard = "model-00002-of-00002.safetensors"
    version = manifest["files"][shard]["version_id"]
    s3.delete_object(Bucket=BUCKET, Key=f"models/gone/{shard}", VersionId=version)

    assert model_fetch.main([url, str(tmp_path / "served")]) == 2
    err = capsys.readouterr().err
    assert f"{shard}: version {version} listed in {s3_models.MANIFEST} is gone" in err
    progress = DownloadProgress(url, tmp_path, say=lambda _: None)
    with pytest.raises(ConfigError, match=rf"model.init_from={url}: {shard}: version"):
        init_s3.fetch(url, tmp_path / "init", progress, s3)


def test_a_prefix_without_a_manifest_is_copied_as_listed_with_a_notice(s3, tmp_path, capsys):
    url = f"s3://{BUCKET}/models/synced"
    for rel, body in V2.items():  # as `aws s3 sync` uploads a directory
        s3.put_object(Bucket=BUCKET, Key=f"models/synced/{rel}", Body=body)
    model_fetch.fetch(url, tmp_path / "served", s3)
    assert contents(tmp_path / "served") == V2
    assert "not protected against concurrent writes" in capsys.readouterr().err

    lines: list[str] = []
    init_s3.fetch(url, tmp_path / "init", DownloadProgress(url, tmp_path, say=lines.append), s3)
    assert contents(tmp_path / "init") == V2
    assert any(f"no {s3_models.MANIFEST} under it" in line for line in lines)


def test_an_unversioned_bucket_gets_a_manifest_without_versions_and_a_notice(s3, tmp_path):
    url = f"s3://{UNVERSIONED}/models/job"
    lines: list[str] = []
    s3_models.upload(export_dir(tmp_path / "v1", V1), url, s3=s3, say=lines.append)
    assert any("keeps no object versions" in line for line in lines)
    model_fetch.fetch(url, tmp_path / "served", s3)
    assert contents(tmp_path / "served") == V1


def test_a_second_writer_on_the_same_prefix_fails_the_upload(s3, tmp_path):
    url = f"s3://{BUCKET}/models/two-writers"
    key = "models/two-writers/config.json"
    other = Interleaved(
        s3, "head_object", 1, lambda: s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}")
    )
    with pytest.raises(s3_models.ExportError, match="replaced by another upload"):
        s3_models.upload(export_dir(tmp_path / "v1", V1), url, s3=other)
    assert s3_models.MANIFEST not in current_keys(s3, "models/two-writers/")
