"""Checkpoints, models and data in S3, against moto in server mode on localhost: the trainer
runs as real processes that reach the fake S3 through AWS_ENDPOINT_URL (boto3 reads it)."""

from __future__ import annotations

import json
import shutil

import boto3
import pytest
from trainer_support import CKPT_EVERY, STEPS, moto_s3, ok, run_trainer

from trainer import s3_store
from trainer.config_sections import DataConfig
from trainer.sources import raw_documents

BUCKET = "ts-artifacts"
URL = f"s3://{BUCKET}/checkpoints/job"


@pytest.fixture(scope="module")
def s3_env():
    with moto_s3(BUCKET) as client:
        yield client


def test_checkpoints_go_to_s3_and_a_new_volume_resumes_from_them(s3_env, single_run, tmp_path):
    s3 = s3_env
    common = ["--max-steps", str(STEPS), "--checkpoint.interval", str(CKPT_EVERY)]
    up = ["--checkpoint.upload", URL, "--checkpoint.upload-every", "1"]
    first = ok(run_trainer(tmp_path / "a", *common, *up, "--stop-at", "8"))
    assert [s for s, _ in s3_store.complete_steps(URL)] == [4, 8]
    assert "s3: uploaded step_00000008" in first.stdout

    # An upload cut short before its manifest: a newer step with objects but no manifest.
    shutil.copytree(first.ckpt_dir / "step_00000008", tmp_path / "step_00000010")
    for f in sorted((tmp_path / "step_00000010").rglob("*"))[:3]:
        if f.is_file():
            rel = f.relative_to(tmp_path).as_posix()
            s3.upload_file(str(f), BUCKET, f"checkpoints/job/{rel}")
    assert [s for s, _ in s3_store.complete_steps(URL)] == [4, 8]

    # The volume is gone: a new run in an empty directory resumes from S3's newest complete step.
    second = ok(run_trainer(tmp_path / "b", *common, *up))
    assert "s3: restored" in second.stdout and "step_00000008" in second.stdout
    assert "resumed from" in second.stdout
    want = {s: v for s, v in single_run.losses().items() if s > 8}
    assert second.losses() == want  # the same losses as the uninterrupted run
    assert [s for s, _ in s3_store.complete_steps(URL)] == [4, 8, 12]
    # The export, a Hugging Face directory, under models/JOB/ file by file.
    for f in (second.ckpt_dir / "model").iterdir():
        model = s3.head_object(Bucket=BUCKET, Key=f"models/job/{f.name}")
        assert model["ContentLength"] == f.stat().st_size


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
