"""Weights & Biases logging (trainer/wandb_log.py) through the trainer's Recorder.

One run of the real `wandb` package in offline mode (WANDB_MODE=offline: no network), read back
from the records it writes (run-<id>.wandb), checks the values, the run's identity and that it is
the job's; the rest (off without a key or on other ranks, a W&B outage, a restart's redone
steps) runs against a small stand-in for the module, as those need a server to happen for real.
"""

from __future__ import annotations

import json
import struct
import sys
import types
import zlib
from pathlib import Path

import pytest
import torch

from trainer import metrics, tensorboard_log, wandb_log


def recorder(out: Path, enabled: bool = True, config: dict | None = None) -> metrics.Recorder:
    return metrics.Recorder(str(out), 10, 1e6, 1.0, 1, enabled, run_config=config)


def train(rec: metrics.Recorder, steps: range) -> None:
    for s in steps:
        rec.step(s, loss=10.0 - s, lr=1e-3 * s, grad_norm=1.0, step_time=0.1 * s,
                 data_time=0.01 * s, tokens=64)  # fmt: skip
        if s % 2 == 0:
            rec.log(s, 10.0 - s, torch.device("cpu"))


# ------------------------------------------------------------------ the .wandb file, read back

# wandb 0.31.0 has no public Python reader of its transaction log (the Go core reads it). The
# format, from wandb's core/pkg/leveldb/record.go and wandb/sdk/internal/datastore.py (v0.28):
# a 7-byte header (":W&B", magic 0xBEE1, version), then LevelDB log blocks of 32 KiB whose
# chunks are crc32 (IEEE, over the type byte and data), length, type (1 full, 2 first,
# 3 middle, 4 last) and data; each whole record is a wandb_internal_pb2.Record.
BLOCK = 32 * 1024


def wandb_records(path: Path) -> list:
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B" and struct.unpack("<H", data[4:6])[0] == 0xBEE1
    out, pos, pending = [], 7, b""
    while pos + 7 <= len(data):
        if BLOCK - pos % BLOCK < 7:  # a block's tail too short for a chunk header: padding
            pos += BLOCK - pos % BLOCK
            continue
        crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0:
            break
        chunk = data[pos + 7 : pos + 7 + length]
        assert zlib.crc32(bytes([kind]) + chunk) == crc
        pending, pos = pending + chunk, pos + 7 + length
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pending)
            out.append(record)
            pending = b""
    return out


def history(records: list) -> dict[str, dict[int, float]]:
    """{tag: {step: value}} of the history records, without wandb's own (_step, _runtime)."""
    out: dict[str, dict[int, float]] = {}
    for r in records:
        if r.WhichOneof("record_type") == "history":
            for item in r.history.item:
                tag = item.key or "/".join(item.nested_key)
                if not tag.startswith("_"):
                    out.setdefault(tag, {})[r.history.step.num] = json.loads(item.value_json)
    return out


def test_offline_run_holds_the_jobs_figures_under_its_name(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="the test extra's wandb")
    env = {
        "WANDB_API_KEY": "x" * 40,  # never used: offline
        "WANDB_MODE": "offline",
        "WANDB_PROJECT": "stack-dev",
        "WANDB_ENTITY": "ml-team",
        "WANDB_RUN_GROUP": "llama-1b",
        "WANDB_NAME": "llama-1b",
        "JOB_NAME": "llama-1b",
        "WANDB_SILENT": "true",
        "WANDB_X_DISABLE_STATS": "true",  # no system-metrics sampler in a test
        # wandb's own settings and caches, out of the home directory.
        "WANDB_CONFIG_DIR": str(tmp_path / "config"),
        "WANDB_CACHE_DIR": str(tmp_path / "cache"),
        "WANDB_DATA_DIR": str(tmp_path / "data"),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("WANDB_DIR", raising=False)
    monkeypatch.delenv("WANDB_RUN_ID", raising=False)
    out = tmp_path / "metrics"
    rec = recorder(out, config={"preset": "tiny", "optim": {"lr": 3e-4}})
    train(rec, range(1, 5))
    rec.write({"kind": "val", "step": 4, "loss": 5.5})
    rec.write({"kind": "summary", "steps": 4, "final_loss": 6.0, "mfu": 0.25, "export": None})
    rec.close()
    # run.finish() returns before wandb-core has closed the run's transaction log (it was read
    # empty under load); the trainer's process exit runs wandb's teardown, which waits for that.
    import wandb

    wandb.teardown()

    (path,) = (out / "wandb").glob("offline-run-*/run-llama-1b.wandb")  # WANDB_DIR: metrics
    records = wandb_records(path)
    (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert (run.run_id, run.project, run.entity) == ("llama-1b", "stack-dev", "ml-team")
    assert (run.run_group, run.display_name) == ("llama-1b", "llama-1b")
    assert "optim" in {u.key for u in run.config.update}

    got = history(records)
    progress = rec.records("progress")  # metrics.jsonl: what the progress lines said
    assert got["train/loss"] == {s: 10.0 - s for s in range(1, 5)}
    for field, tag in tensorboard_log.TAGS["progress"].items():
        assert got[tag] == {s: pytest.approx(progress[s][field]) for s in (2, 4)}, tag
    assert got["perf/tokens_per_s"][4] == pytest.approx(128 / 0.7)  # 2 steps of 64 in 0.3+0.4 s
    assert got["perf/data_wait_share"][4] == pytest.approx(0.1)
    assert got["val/loss"] == {4: 5.5}
    summary = {
        u.key or "/".join(u.nested_key): json.loads(u.value_json)
        for r in records
        if r.WhichOneof("record_type") == "summary"
        for u in r.summary.update
    }
    assert summary["final_loss"] == 6.0 and summary["mfu"] == 0.25 and "export" not in summary


# -------------------------------------------------------- against a stand-in for the module


class FakeRun:
    def __init__(self, step: int = 0, fail_log: bool = False):
        self.id, self.step, self.fail_log = "j", step, fail_log
        self.logged: list[tuple[int, dict]] = []
        self.summary: dict = {}
        self.finished = False

    def log(self, values: dict, step: int) -> None:
        if self.fail_log:
            raise ConnectionError("api.wandb.ai: 503")
        self.logged.append((step, values))
        self.step = max(self.step, step)

    def finish(self) -> None:
        self.finished = True


def fake_wandb(monkeypatch, run: FakeRun | None) -> list[dict]:
    """`wandb` as the trainer calls it; init raises when `run` is None. Returns init's calls."""
    calls: list[dict] = []

    def init(**kwargs):
        calls.append(kwargs)
        if run is None:
            raise TimeoutError("Run initialization has timed out after 30.0 sec.")
        return run

    module = types.SimpleNamespace(init=init, Settings=lambda **kw: kw)
    monkeypatch.setitem(sys.modules, "wandb", module)
    return calls


KEYED = {"WANDB_API_KEY": "k", "JOB_NAME": "llama-1b"}


def test_only_rank_0_with_a_key_starts_a_run(tmp_path, monkeypatch):
    calls = fake_wandb(monkeypatch, FakeRun())
    assert wandb_log.WandbLog(tmp_path, enabled=True, env={"JOB_NAME": "j"}).run is None
    assert wandb_log.WandbLog(tmp_path, enabled=False, env=KEYED).run is None
    assert calls == []
    log = wandb_log.WandbLog(tmp_path, enabled=True, env=KEYED)
    (call,) = calls
    assert (call["id"], call["resume"], call["dir"]) == ("llama-1b", "allow", str(tmp_path))
    assert call["settings"]["console"] == "off"
    assert call["settings"]["finish_timeout"] == wandb_log.FINISH_TIMEOUT_S
    log.close()
    assert log.run is None


def test_without_the_package_a_key_only_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb -> ImportError
    assert wandb_log.WandbLog(tmp_path, enabled=True, env=KEYED).run is None
    assert "wandb package is not installed" in capsys.readouterr().out


def test_an_outage_is_said_once_and_training_goes_on(tmp_path, monkeypatch, capsys):
    fake_wandb(monkeypatch, None)  # init times out
    rec = metrics.Recorder(str(tmp_path / "a"), 10, 1e6, 1.0, 1, True)
    rec.wandb = wandb_log.WandbLog(tmp_path, enabled=True, env=KEYED)
    train(rec, range(1, 3))
    rec.close()
    assert capsys.readouterr().out.count("W&B not started (TimeoutError") == 1
    assert len(rec.records("train")) == 2  # metrics.jsonl as without W&B

    run = FakeRun(fail_log=True)  # started, then the server goes away
    fake_wandb(monkeypatch, run)
    rec = metrics.Recorder(str(tmp_path / "b"), 10, 1e6, 1.0, 1, True)
    rec.wandb = wandb_log.WandbLog(tmp_path, enabled=True, env=KEYED)
    train(rec, range(1, 5))
    rec.close()
    assert capsys.readouterr().out.count("W&B logging failed (ConnectionError") == 1
    assert not run.finished and len(rec.records("train")) == 4


def test_a_restarted_job_resumes_its_run_and_skips_steps_it_holds(tmp_path, monkeypatch, capsys):
    run = FakeRun(step=7)  # W&B holds steps up to 7; the checkpoint was step 4
    fake_wandb(monkeypatch, run)
    log = wandb_log.WandbLog(tmp_path, enabled=True, env=KEYED)
    for s in range(5, 10):
        log.record({"kind": "train", "step": s, "loss": 1.0, "lr": 0.1})
    assert [s for s, _ in run.logged] == [7, 8, 9]
    assert run.logged[0][1] == {"train/loss": 1.0, "train/learning_rate": 0.1}
    out = capsys.readouterr().out
    assert "resumed at step 7" in out and out.count("not sent again") == 1


def test_run_ids_follow_the_job_name_within_wandbs_rules():
    assert wandb_log.run_id({"JOB_NAME": "llama-1b"}) == "llama-1b"
    assert wandb_log.run_id({"JOB_NAME": "a/b:c#d"}) == "a-b-c-d"
    assert wandb_log.run_id({"JOB_NAME": "j", "WANDB_RUN_ID": "mine"}) == "mine"
    assert wandb_log.run_id({}) is None
