"""Checkpoint transfers to and from S3 (moto in server mode, trainer_support.moto_s3): uploads in
the background, one at a time; S3 retention by checkpoint.keep with the manifest deleted first;
the bucket's lifecycle rules; a restore that every rank fetches its share of, at the same time."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
import torch
from ports import free_port
from trainer_support import (
    CKPT_EVERY,
    ROOT,
    STEPS,
    _env,
    moto_s3,
    ok,
    one_rank_gloo,
    run_trainer,
    start_trainer,
)

from components.artifacts import render_lifecycle_rules
from trainer import (
    checkpoint,
    s3_models,
    s3_restore,
    s3_retention,
    s3_store,
    s3_sync,
    s3_tensorboard,
    s3_upload,
)
from trainer.config_sections import CheckpointConfig
from trainer.distributed import Dist

BUCKET = "ts-transfers"


@pytest.fixture(scope="module")
def s3():
    with moto_s3(BUCKET) as client:
        # Versioned, as components/buckets.py makes every bucket.
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def fake_step(root: Path, step: int, world: int = 1, size: int = 64) -> Path:
    """A complete local checkpoint with the files DCP and the trainer write."""
    path = root / checkpoint.step_name(step)
    (path / "rng").mkdir(parents=True)
    (path / ".metadata").write_bytes(b"m" * 10)
    (path / checkpoint.STATE_FILE).write_text(json.dumps({"step": step}))
    for r in range(world):
        (path / f"__{r}_0.distcp").write_bytes(bytes([r]) * size * (r + 1))
        (path / "rng" / f"rank_{r}.pt").write_bytes(b"r" * 5)
    return path


def upload(url: str, path: Path, s3) -> None:
    """A complete local checkpoint sent as the trainer sends it (one rank), nothing pruned."""
    up = s3_upload.Uploader(url, 0, 1, keep=1000, s3=s3, say=lambda _: None)
    up.start(path)
    up.wait()


def keys(s3, prefix: str) -> set[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"] for o in listed}


def test_each_rank_uploads_its_own_files_and_rank_0_owns_the_rest():
    rels = [".metadata", "trainer_state.json", "__0_0.distcp", "__1_0.distcp", "__1_1.distcp"]
    rels += ["rng/rank_0.pt", "rng/rank_1.pt", "__7_0.distcp"]
    assert {rel: s3_upload.owner(rel, 2) for rel in rels} == {
        ".metadata": 0,
        "trainer_state.json": 0,
        "__0_0.distcp": 0,
        "__1_0.distcp": 1,
        "__1_1.distcp": 1,
        "rng/rank_0.pt": 0,
        "rng/rank_1.pt": 1,
        "__7_0.distcp": 0,  # a rank the world does not have: rank 0 sends it
    }


class SlowS3:
    """The real (moto) client, with uploads held until the test lets them go."""

    def __init__(self, client):
        self.client, self.gate, self.uploading = client, threading.Event(), threading.Event()

    def upload_file(self, *args, **kw):
        self.uploading.set()
        assert self.gate.wait(30), "the test never let the upload go"
        return self.client.upload_file(*args, **kw)

    def __getattr__(self, name):
        return getattr(self.client, name)


def test_an_upload_runs_in_the_background_while_steps_go_on(s3, tmp_path):
    url = f"s3://{BUCKET}/checkpoints/background"
    slow = SlowS3(s3)
    lines: list[str] = []
    up = s3_upload.Uploader(url, 0, 1, keep=3, s3=slow, say=lines.append, poll_s=0.05)
    path = fake_step(tmp_path, 4)
    t0 = time.monotonic()
    up.start(path)
    assert slow.uploading.wait(10)
    steps = 0
    while steps < 50:  # the training loop goes on while the upload is held
        steps += 1
    assert time.monotonic() - t0 < 5 and up.busy
    assert s3_store.complete_steps(url, s3) == []  # nothing committed yet
    with pytest.raises(RuntimeError, match="still uploading"):
        up.start(fake_step(tmp_path, 8))  # one upload at a time
    threading.Timer(0.3, slow.gate.set).start()
    up.wait(every_s=0.1)  # at the end: waited for, with progress lines
    assert any(line.startswith("s3: uploading step_00000004: ") for line in lines)
    assert f"s3: uploaded step_00000004 to {url}/step_00000004" in lines
    [(step, manifest)] = s3_store.complete_steps(url, s3)
    assert step == 4 and set(manifest["files"]) == {
        ".metadata",
        "trainer_state.json",
        "__0_0.distcp",
        "rng/rank_0.pt",
    }


def test_rank_0_commits_a_step_only_once_every_rank_uploaded_its_files(s3, tmp_path):
    url = f"s3://{BUCKET}/checkpoints/two-ranks"
    path = fake_step(tmp_path, 6, world=2)
    rank0 = s3_upload.Uploader(url, 0, 2, keep=3, s3=s3, say=lambda _: None, poll_s=0.05)
    rank0.start(path)
    time.sleep(0.5)
    assert rank0.busy and s3_store.complete_steps(url, s3) == []  # rank 1 has not sent its own
    rank1 = s3_upload.Uploader(url, 1, 2, keep=3, s3=s3, say=lambda _: None)
    rank1.start(path)
    rank1.wait()
    rank0.wait()
    [(step, manifest)] = s3_store.complete_steps(url, s3)
    assert step == 6 and manifest["files"] == {
        rel: (path / rel).stat().st_size for rel in s3_upload.own_files(path, 0, 1)
    }


@pytest.fixture
def one_rank_group():
    with one_rank_gloo():
        yield Dist(0, 0, 1, torch.device("cpu"), None)


def test_a_checkpoint_due_while_an_upload_runs_is_skipped_and_the_last_one_waited_for(
    s3, tmp_path, one_rank_group, capsys
):
    url = f"s3://{BUCKET}/checkpoints/skip"
    cfg = CheckpointConfig(dir=str(tmp_path), upload=url, upload_every=1, keep=5)
    uploads = s3_sync.Uploads(cfg, one_rank_group)
    slow = SlowS3(s3)
    uploads.uploader.s3 = slow
    uploads.saved(fake_step(tmp_path, 4), final=False)
    assert slow.uploading.wait(10)
    uploads.saved(fake_step(tmp_path, 8), final=False)  # step 4 still uploading: skipped
    assert "s3: step_00000008 not uploaded: an earlier upload is still running" in (
        capsys.readouterr().out
    )
    threading.Timer(0.5, slow.gate.set).start()
    uploads.saved(fake_step(tmp_path, 12), final=True)  # the last: waits, uploads, waits
    assert [s for s, _ in s3_store.complete_steps(url, s3)] == [4, 12]
    assert not uploads.uploader.busy


def test_s3_keeps_checkpoint_keep_steps_deleting_each_manifest_first(s3, tmp_path):
    url = f"s3://{BUCKET}/checkpoints/keep"
    for step in (1, 2, 3, 4):
        upload(url, fake_step(tmp_path, step), s3)
    # An upload cut short long ago (no manifest), and one in flight after the newest.
    s3.put_object(Bucket=BUCKET, Key="checkpoints/keep/step_00000000/junk", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key="checkpoints/keep/step_00000002/.ranks/rank_0.json", Body=b"")
    s3.put_object(Bucket=BUCKET, Key="checkpoints/keep/step_00000005/__0_0.distcp", Body=b"x")
    calls: list[tuple[str, list[str]]] = []
    client = boto3.client("s3")

    def record(params, model, **_):
        if model.name == "DeleteObject":
            calls.append((model.name, [params["Key"]]))
        elif model.name == "DeleteObjects":
            calls.append((model.name, [o["Key"] for o in params["Delete"]["Objects"]]))

    client.meta.events.register("provide-client-params.s3.*", record)
    assert s3_retention.prune(url, keep=2, s3=client) == [0, 1, 2]
    assert [s for s, _ in s3_store.complete_steps(url, s3)] == [3, 4]
    assert keys(s3, "checkpoints/keep/step_00000000/") == set()
    assert keys(s3, "checkpoints/keep/step_00000001/") == set()
    assert keys(s3, "checkpoints/keep/step_00000002/") == set()
    assert keys(s3, "checkpoints/keep/step_00000005/")  # newer than the kept ones: in flight
    for step in ("step_00000001", "step_00000002"):
        mine = [(op, ks) for op, ks in calls if any(f"/{step}/" in k for k in ks)]
        # The manifest alone first, then the rest: a reader never sees a torn step complete.
        assert mine[0] == ("DeleteObject", [f"checkpoints/keep/{step}/MANIFEST.json"])
        assert all(op == "DeleteObjects" for op, _ in mine[1:]) and len(mine) > 1
    # Versioned: the deleted objects stay as noncurrent versions until the lifecycle rule.
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix="checkpoints/keep/step_00000001/")
    assert versions.get("Versions") and versions.get("DeleteMarkers")
    assert s3_retention.prune(url, keep=2, s3=client) == []  # nothing more to do


def test_the_uploader_prunes_after_each_commit(s3, tmp_path):
    url = f"s3://{BUCKET}/checkpoints/rolling"
    up = s3_upload.Uploader(url, 0, 1, keep=2, s3=s3, say=lambda _: None, poll_s=0.05)
    for step in (10, 20, 30):
        up.start(fake_step(tmp_path, step))
        up.wait()
    assert [s for s, _ in s3_store.complete_steps(url, s3)] == [20, 30]


def _api_shape(value):
    """Pulumi's snake_case inputs as S3's API members (CamelCase, `id` as ID)."""
    if isinstance(value, list):
        return [_api_shape(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for k, v in value.items():
        name = "ID" if k == "id" else "".join(p.capitalize() for p in k.split("_"))
        out[name] = v.capitalize() if k == "status" else _api_shape(v)
    return out


def test_rank_0_sends_the_tensorboard_files_after_each_commit_beside_the_steps(s3, tmp_path):
    """metrics.out_dir is not under checkpoint.dir: the event files go by their own path, to
    PREFIX/tensorboard, where neither restore nor retention looks."""
    url = f"s3://{BUCKET}/checkpoints/tb"
    events_dir = tmp_path / "metrics" / "tensorboard"
    events_dir.mkdir(parents=True)
    (events_dir / "events.out.tfevents.1.host.start00000001").write_bytes(b"a" * 10)
    events = s3_tensorboard.EventSync(events_dir, url)
    up = s3_upload.Uploader(url, 0, 1, keep=1, s3=s3, say=lambda _: None, events=events)
    up.start(fake_step(tmp_path / "ckpt", 4))
    up.wait()
    first = "checkpoints/tb/tensorboard/events.out.tfevents.1.host.start00000001"
    assert keys(s3, "checkpoints/tb/tensorboard/") == {first}

    (events_dir / "events.out.tfevents.1.host.start00000001").write_bytes(b"a" * 20)  # grew
    (events_dir / "events.out.tfevents.2.host.start00000005").write_bytes(b"b" * 5)  # restart
    up.start(fake_step(tmp_path / "ckpt", 8))
    up.wait()
    assert s3.get_object(Bucket=BUCKET, Key=first)["ContentLength"] == 20
    assert len(keys(s3, "checkpoints/tb/tensorboard/")) == 2
    assert events.sync(s3) == []  # nothing changed: nothing sent again
    # Step 4 pruned (keep=1), the event files kept; a restore sees the steps only.
    assert [step for step, _ in s3_store.complete_steps(url, s3)] == [8]
    assert s3_tensorboard.url_of(url) == f"s3://{BUCKET}/checkpoints/tb/tensorboard"


def test_the_bucket_lifecycle_rules_are_accepted_by_s3_as_rendered(s3):
    rules = _api_shape(render_lifecycle_rules())
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": rules})
    got = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]}
    assert got["expire-noncurrent-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 7
    assert got["expire-noncurrent-versions"]["Expiration"]["ExpiredObjectDeleteMarker"] is True
    abort = got["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"]
    assert abort["DaysAfterInitiation"] == 2
    assert all(r["Status"] == "Enabled" and r["Filter"] == {"Prefix": ""} for r in got.values())


def test_every_rank_fetches_its_own_share_of_a_restore_at_the_same_time(s3, tmp_path):
    url = f"s3://{BUCKET}/checkpoints/restore"
    src = fake_step(tmp_path / "src", 7, world=2, size=1000)
    upload(url, src, s3)
    manifest = s3_store.complete_steps(url, s3)[-1][1]
    root, out = tmp_path / "ckpt", tmp_path / "out"
    out.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    cmd += ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{free_port()}"]
    cmd += [str(Path(__file__).with_name("restore_worker.py")), url, str(root), str(out)]
    p = subprocess.run(cmd, env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    ranks = [json.loads((out / f"rank_{r}.json").read_text()) for r in (0, 1)]
    assert {r["restored"] for r in ranks} == {str(root / "step_00000007")}
    base = "checkpoints/restore/step_00000007/"
    shares = [sorted(f["key"].removeprefix(base) for f in r["fetched"]) for r in ranks]
    assert shares == [sorted(s) for s in s3_restore.assign(manifest["files"], 2)]
    assert all(shares) and sorted(shares[0] + shares[1]) == sorted(manifest["files"])
    # At the same time: each rank started before the other finished.
    spans = [
        (min(f["start"] for f in r["fetched"]), max(f["end"] for f in r["fetched"])) for r in ranks
    ]
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]
    # Published by rename, every file whole; nothing hidden left behind.
    assert checkpoint.latest(root)[0] == 7
    for rel, size in manifest["files"].items():
        assert (root / "step_00000007" / rel).stat().st_size == size
    assert [p.name for p in root.iterdir()] == ["step_00000007"]


def test_a_step_whose_objects_do_not_match_its_manifest_is_not_restored(
    s3, tmp_path, one_rank_group
):
    url = f"s3://{BUCKET}/checkpoints/torn"
    step = tmp_path / "step_00000003"
    (step / "rng").mkdir(parents=True)
    (step / ".metadata").write_bytes(b"m" * 10)
    (step / checkpoint.STATE_FILE).write_text("{}")
    (step / "rng" / "rank_0.pt").write_bytes(b"r" * 5)
    upload(url, step, s3)
    assert [s for s, _ in s3_store.complete_steps(url)] == [3]
    s3.put_object(Bucket=BUCKET, Key="checkpoints/torn/step_00000003/rng/rank_0.pt", Body=b"r")
    assert s3_store.complete_steps(url) == []
    assert s3_restore.restore_latest(url, tmp_path / "restore", 0, 1) is None


def test_restore_splits_files_by_size():
    shares = s3_restore.assign({"a": 100, "b": 60, "c": 50, "d": 10}, 2)
    assert shares == [["a", "d"], ["b", "c"]]  # 110 bytes each
    assert s3_restore.assign({"a": 1}, 3) == [["a"], [], []]


def test_two_ranks_upload_their_own_shards_and_a_new_volume_restores_from_them(
    s3, tmp_path, two_rank_run
):
    url = f"s3://{BUCKET}/checkpoints/trainer"
    common = ["--max-steps", str(STEPS), "--checkpoint.interval", str(CKPT_EVERY)]
    up = ["--checkpoint.upload", url]
    first = ok(run_trainer(tmp_path / "a", *common, *up, "--stop-at", "8", nproc=2))
    steps = dict(s3_store.complete_steps(url, s3))
    assert 8 in steps and set(steps) <= {4, 8}  # 4 only if its upload ended before 8 was due
    assert "s3: uploaded step_00000008" in first.stdout
    base = "checkpoints/trainer/step_00000008/.ranks/"
    for rank in (0, 1):
        record = json.loads(
            s3.get_object(Bucket=BUCKET, Key=f"{base}rank_{rank}.json")["Body"].read()
        )
        assert f"rng/rank_{rank}.pt" in record
        assert {rel for rel in record if rel.endswith(".distcp")} == {
            rel for rel in steps[8]["files"] if rel.startswith(f"__{rank}_")
        }
    # An upload cut short before its manifest: a newer step with objects but no manifest.
    torn = tmp_path / "step_00000010"
    shutil.copytree(first.ckpt_dir / "step_00000008", torn)
    for f in sorted(p for p in torn.rglob("*") if p.is_file())[:3]:
        rel = f.relative_to(tmp_path).as_posix()
        s3.upload_file(str(f), BUCKET, f"checkpoints/trainer/{rel}")
    assert max(dict(s3_store.complete_steps(url, s3))) == 8
    # A new volume: both ranks fetch their shares of S3's newest complete step, then resume
    # where the first run stopped, to the losses of the uninterrupted run.
    second = ok(run_trainer(tmp_path / "b", *common, *up, nproc=2))
    assert "s3: restored" in second.stdout and "step_00000008" in second.stdout
    assert "resumed from" in second.stdout
    assert second.losses() == {s: v for s, v in two_rank_run.losses().items() if s > 8}
    assert 12 in dict(s3_store.complete_steps(url, s3))
    # The export, a Hugging Face directory, under models/JOB/ with its manifest of the run's
    # last step, naming the version of each file it uploaded.
    body = s3.get_object(Bucket=BUCKET, Key=f"models/trainer/{s3_models.MANIFEST}")["Body"]
    manifest = json.loads(body.read())
    assert manifest["step"] == STEPS
    exported = {f.name: f.stat().st_size for f in (second.ckpt_dir / "model").iterdir()}
    assert {rel: e["size"] for rel, e in manifest["files"].items()} == exported
    for rel, entry in manifest["files"].items():
        head = s3.head_object(Bucket=BUCKET, Key=f"models/trainer/{rel}")
        assert head["VersionId"] == entry["version_id"]


def test_sigterm_saves_and_waits_for_that_checkpoints_upload(s3, tmp_path):
    # Under torchrun, as in a pod: SIGTERM reaches torchrun (PID 1), which passes it to the
    # workers and gives them 30 s before SIGKILL. Every rank saves its part, then they wait for
    # the upload of that step and its commit before exiting (a daemon thread would otherwise
    # die with them).
    url = f"s3://{BUCKET}/checkpoints/sigterm"
    proc = start_trainer(
        tmp_path, "--max-steps", "100000", "--checkpoint.interval", "0",
        "--checkpoint.upload", url, nproc=2,
    )  # fmt: skip
    metrics, deadline = tmp_path / "runs" / "metrics.jsonl", time.monotonic() + 90
    while time.monotonic() < deadline:
        if metrics.exists() and metrics.read_text().count('"train"') >= 3:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    saved = checkpoint.latest(tmp_path / "ckpt")
    assert saved is not None and f"SIGTERM: saved step {saved[0]}" in out, err[-2000:]
    assert sorted(p.name for p in (saved[1] / "rng").iterdir()) == ["rank_0.pt", "rank_1.pt"]
    assert f"s3: uploaded {saved[1].name}" in out
    assert saved[0] in dict(s3_store.complete_steps(url, s3))
