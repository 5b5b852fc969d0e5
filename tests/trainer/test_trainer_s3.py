"""Models and data in S3, against moto in server mode on localhost (checkpoints in S3, and a
run resumed from them: test_s3_transfers.py)."""

from __future__ import annotations

import json

import boto3
import pytest
from trainer_support import moto_s3

from trainer import s3_store
from trainer.config_sections import DataConfig
from trainer.sources import raw_documents

BUCKET = "ts-artifacts"
URL = f"s3://{BUCKET}/checkpoints/job"


@pytest.fixture(scope="module")
def s3_env():
    with moto_s3(BUCKET) as client:
        yield client


def test_models_go_under_models(s3_env):
    assert s3_store.models_url(URL) == f"s3://{BUCKET}/models/job"
    assert s3_store.models_url(f"s3://{BUCKET}/x/y") == f"s3://{BUCKET}/x/y/model"


def test_local_source_streams_txt_and_jsonl_objects_from_s3(s3_env, tmp_path):
    s3 = s3_env
    s3.put_object(Bucket=BUCKET, Key="data/corpus/a.txt", Body=b"one\nstill one\n\ntwo\n\n\n")
    rows = "\n".join(json.dumps({"text": t}) for t in ("three", "four"))
    s3.put_object(Bucket=BUCKET, Key="data/corpus/b.jsonl", Body=rows.encode())
    s3.put_object(Bucket=BUCKET, Key="data/corpus/skip.bin", Body=b"x")
    cfg = DataConfig(source="local", path=f"s3://{BUCKET}/data/corpus")
    docs = raw_documents(cfg)
    assert [next(docs) for _ in range(5)] == [
        "one\nstill one",
        "two",
        "three",
        "four",
        "one\nstill one",
    ]
    # The same text from a local file gives the same documents.
    (tmp_path / "a.txt").write_text("one\nstill one\n\ntwo\n\n\n")
    local = raw_documents(DataConfig(source="local", path=str(tmp_path / "a.txt")))
    assert [next(local) for _ in range(2)] == ["one\nstill one", "two"]


def test_hf_source_reads_jsonl_from_s3(s3_env, tmp_path, monkeypatch):
    s3 = s3_env
    monkeypatch.setenv("HOME", str(tmp_path))
    rows = "\n".join(json.dumps({"text": f"doc {i}"}) for i in range(3))
    s3.put_object(Bucket=BUCKET, Key="data/hf/part-0.jsonl", Body=rows.encode())
    docs = raw_documents(DataConfig(source="hf", path=f"s3://{BUCKET}/data/hf"))
    assert [next(docs) for _ in range(3)] == ["doc 0", "doc 1", "doc 2"]


def test_a_shard_reads_its_byte_range_of_s3_objects_with_ranged_gets(s3_env, tmp_path):
    from trainer import sources

    s3 = s3_env
    rows = "".join(json.dumps({"text": f"document number {i} " * 3}) + "\n" for i in range(200))
    s3.put_object(Bucket=BUCKET, Key="data/big/a.jsonl", Body=rows.encode())
    (tmp_path / "a.jsonl").write_text(rows)
    ranges, client = [], boto3.client("s3")

    def record(request, **_):
        ranges.append(request.headers["Range"].decode())  # botocore sends header bytes

    client.meta.events.register("before-send.s3.GetObject", record)
    s3_cfg = DataConfig(source="local", path=f"s3://{BUCKET}/data/big")
    local_cfg = DataConfig(source="local", path=str(tmp_path))
    mp = pytest.MonkeyPatch()
    mp.setattr(s3_store, "client", lambda: client)
    mp.setattr(sources.records, "CHUNK", 1000)  # several GETs per shard
    try:
        for k in (0, 5, 7):
            ranges.clear()
            remote = sources.shard_documents(s3_cfg, k, 8)
            local = sources.shard_documents(local_cfg, k, 8)
            got = [next(remote) for _ in range(10)]
            assert got == [next(local) for _ in range(10)]  # the same cursors and documents
            remote.close()
            # Shard k's first document starts in its eighth of the object; the GET starts there.
            spans = [tuple(map(int, r.removeprefix("bytes=").split("-"))) for r in ranges]
            a, b = k * len(rows) // 8, (k + 1) * len(rows) // 8
            assert spans[0][0] == max(a - 3, 0) and got[0][0] >= a
            assert all(hi - lo == 999 for lo, hi in spans) and spans[-1][1] < b + 1000
    finally:
        mp.undo()
