"""trainer/model_fetch.py: the init container of a server whose model is in S3 copies every
object of the export below its directory, leaves no half file, and refuses a prefix that holds
no Hugging Face model (exit 2, saying what is missing)."""

from __future__ import annotations

import io

import pytest
from botocore.exceptions import ClientError

from trainer import model_fetch

BUCKET = "trainstack-artifacts-x"


class FakeS3:
    """list_objects_v2 pages, get_object and download_file over a dict of key -> bytes, with
    no versions (the protocol's versioned reads are tested against moto in test_s3_models.py)."""

    def __init__(self, objects: dict[str, bytes]):
        self.objects = objects

    def get_object(self, Bucket, Key):
        if Key not in self.objects:
            error = {"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}}
            raise ClientError(error, "GetObject")
        return {"Body": io.BytesIO(self.objects[Key])}

    def get_paginator(self, name):
        assert name == "list_objects_v2"
        return self

    def paginate(self, Bucket, Prefix):
        assert Bucket == BUCKET
        keys = sorted(k for k in self.objects if k.startswith(Prefix))
        yield {"Contents": [{"Key": k, "Size": len(self.objects[k])} for k in keys]}

    def download_file(self, bucket, key, path, ExtraArgs=None):
        assert not ExtraArgs  # no manifest: the current objects
        with open(path, "wb") as f:
            f.write(self.objects[key])


EXPORT = {
    "models/llama/": b"",
    "models/llama/config.json": b"{}",
    "models/llama/model-00001-of-00002.safetensors": b"a" * 10,
    "models/llama/model-00002-of-00002.safetensors": b"b" * 10,
    "models/llama/tokenizer/tokenizer.json": b"{}",
    "models/llama-other/config.json": b"{}",
}


def test_the_export_is_copied_by_its_path_under_the_prefix(tmp_path):
    files = model_fetch.fetch(f"s3://{BUCKET}/models/llama/", tmp_path, FakeS3(EXPORT))
    got = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert got == [
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "tokenizer/tokenizer.json",
    ]  # not models/llama-other, no .part left
    assert len(files) == 4


def test_a_prefix_without_a_model_is_refused_with_exit_2(tmp_path, monkeypatch, capsys):
    old = {"models/job/model.pt": b"x"}  # the trainer's export before it was a directory
    with pytest.raises(model_fetch.FetchError, match=r"no config\.json and no \*\.safetensors"):
        model_fetch.fetch(f"s3://{BUCKET}/models/job", tmp_path, FakeS3(old))
    monkeypatch.setattr(model_fetch.s3_store, "client", lambda: FakeS3(old))
    assert model_fetch.main([f"s3://{BUCKET}/models/job", str(tmp_path / "m")]) == 2
    assert "not a Hugging Face model export" in capsys.readouterr().err
