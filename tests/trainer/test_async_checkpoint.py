"""Asynchronous checkpoint saves (trainer/checkpoint_async.py), in one process (a gloo world of
1) with DCP's file writer held at a gate: the save returns while its write is held, the
checkpoint is not complete until the write and the publish are done, and it holds the state as
of the save even though training changed it meanwhile."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch
from torch.distributed.checkpoint import filesystem
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.format_utils import dcp_to_torch_save
from torch.distributed.device_mesh import init_device_mesh
from trainer_support import (
    CKPT_EVERY,
    STEPS,
    assert_close,
    ok,
    one_rank_gloo,
    run_trainer,
    run_worker,
)

from trainer import checkpoint, checkpoint_async, config, train
from trainer.distributed import Dist

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def d():
    with one_rank_gloo():
        yield Dist(0, 0, 1, CPU, init_device_mesh("cpu", (1,), mesh_dim_names=("dp",)))


def _trained(d: Dist, seed: int = 0):
    """The tiny preset's model and optimizer after one step, so the optimizer has state."""
    cfg = config.build("tiny", {"seed": seed})
    model = train.build_model(cfg, d)
    opt, _ = train.build_optimizer(model, cfg, d.device)
    _step(model, opt)
    return cfg, model, opt


def _step(model, opt) -> None:
    tokens = torch.randint(0, 384, (2, 65), generator=torch.Generator().manual_seed(1))
    model(tokens[:, :-1], tokens[:, 1:]).backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


def _local(t):
    return t.to_local() if hasattr(t, "to_local") else t


def _snapshot(model, opt) -> dict:
    state = checkpoint.model_and_optimizer_state(model, opt)
    return {
        "model": {k: _local(v).clone() for k, v in state["model"].items()},
        "optim": {
            f"{p}.{k}": _local(v).clone()
            for p, s in state["optim"]["state"].items()
            for k, v in s.items()
        },
    }


def _assert_equal(got: dict, want: dict) -> None:
    for part in want:
        assert got[part].keys() == want[part].keys()
        differ = [k for k in want[part] if not torch.equal(got[part][k], want[part][k])]
        assert not differ, f"{part} differs: {differ}"


@pytest.fixture
def held_writer(monkeypatch):
    """DCP's file writer waits at a gate before writing any shard; yields (entered, gate)."""
    entered, gate = threading.Event(), threading.Event()
    real = filesystem.FileSystemWriter.write_data

    def write_data(self, plan, planner):
        entered.set()
        assert gate.wait(30), "the test never opened the gate"
        return real(self, plan, planner)

    monkeypatch.setattr(filesystem.FileSystemWriter, "write_data", write_data)
    yield entered, gate
    gate.set()


def test_the_save_returns_before_its_write_and_saves_the_state_as_of_the_call(
    d, tmp_path, held_writer
):
    entered, gate = held_writer
    cfg, model, opt = _trained(d)
    want = _snapshot(model, opt)
    saver = checkpoint_async.Saver(d.rank, d.device, timeout_s=60)
    published = []
    try:
        path = saver.start(tmp_path, 7, model, opt, {"step": 7}, keep=2, then=published.append)
        # start() has returned while the writer thread is held inside the write: the step loop
        # goes on, and nothing looks like a checkpoint yet.
        assert entered.wait(10) and saver.busy
        assert not list((tmp_path / ".tmp-step_00000007").glob("*.distcp"))
        assert checkpoint.latest(tmp_path) is None and published == []
        _step(model, opt)  # the next optimizer step changes every tensor the save holds
        assert not torch.equal(
            _local(next(iter(model.parameters()))), next(iter(want["model"].values()))
        )
        gate.set()
        assert saver.wait() == 7
    finally:
        gate.set()
        saver.close()
    assert checkpoint.latest(tmp_path) == (7, path) and published == [path]
    _, fresh, fresh_opt = _trained(d, seed=1)
    assert checkpoint.load(path, fresh, fresh_opt, d.rank, d.device) == {"step": 7}
    _assert_equal(_snapshot(fresh, fresh_opt), want)


def _contents(path) -> dict:
    out = path.parent / f"{path.name}.pt"
    dcp_to_torch_save(path, out)
    return torch.load(out, weights_only=False)


def _assert_same_tree(a, b, where="") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same_tree(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


def test_an_asynchronous_save_writes_what_a_blocking_one_does(d, tmp_path):
    _, model, opt = _trained(d)
    blocking = checkpoint.save(tmp_path / "sync", 3, model, opt, {"step": 3}, 1, d.rank, d.device)
    saver = checkpoint_async.Saver(d.rank, d.device, timeout_s=60)
    try:
        background = saver.start(tmp_path / "async", 3, model, opt, {"step": 3}, keep=1)
        saver.wait()
    finally:
        saver.close()
    _assert_same_tree(_contents(background), _contents(blocking))
    for rel in (checkpoint.STATE_FILE, "rng/rank_0.pt"):
        assert (background / rel).read_bytes() == (blocking / rel).read_bytes(), rel


def test_a_failed_write_leaves_nothing_complete_and_is_raised_by_wait(d, tmp_path, monkeypatch):
    def write_data(self, plan, planner):
        raise OSError("volume full")

    monkeypatch.setattr(filesystem.FileSystemWriter, "write_data", write_data)
    _, model, opt = _trained(d)
    saver = checkpoint_async.Saver(d.rank, d.device, timeout_s=60)
    try:
        saver.start(tmp_path, 5, model, opt, {"step": 5}, keep=1)
        with pytest.raises(CheckpointException, match="volume full"):
            saver.wait()
    finally:
        saver.close()
    assert checkpoint.latest(tmp_path) is None


def test_wait_gives_up_after_its_bound(d, tmp_path, held_writer):
    entered, gate = held_writer
    _, model, opt = _trained(d)
    saver = checkpoint_async.Saver(d.rank, d.device, timeout_s=60)
    try:
        saver.start(tmp_path, 2, model, opt, {"step": 2}, keep=1)
        with pytest.raises(TimeoutError, match="step 2 was not written within 0.2 s"):
            saver.wait(timeout_s=0.2)
        assert saver.busy  # still in flight: a later wait() finds it
        gate.set()
        assert saver.wait() == 2
    finally:
        gate.set()
        saver.close()


def test_a_kill_before_the_publish_leaves_the_previous_checkpoint_the_newest(
    two_rank_run, tmp_path
):
    """Two ranks saving asynchronously; rank 0 is SIGKILLed once every shard and DCP's metadata
    of step 8 are on disk, right before its commit: step 4 stays the newest complete checkpoint,
    and a restart resumes from it to the losses of an uninterrupted run."""
    args = ["--max-steps", str(STEPS), "--checkpoint.interval", str(CKPT_EVERY)]
    killed = run_worker(
        tmp_path,
        Path(__file__).with_name("kill_in_commit_worker.py"),
        *args,
        nproc=2,
        env={"KILL_IN_COMMIT": "8"},
    )
    assert killed.returncode != 0
    half = killed.ckpt_dir / ".tmp-step_00000008"
    assert (half / ".metadata").is_file() and not (half / checkpoint.STATE_FILE).exists()
    assert {p.name for p in half.glob("*.distcp")} == {"__0_0.distcp", "__1_0.distcp"}
    assert [s for s, _ in checkpoint.complete(killed.ckpt_dir)] == [4]
    resumed = ok(run_trainer(tmp_path, *args, nproc=2))
    assert "resumed from" in resumed.stdout and "step_00000004" in resumed.stdout
    assert_close(resumed.losses(), two_rank_run.losses(), rtol=1e-6)
    assert [s for s, _ in checkpoint.complete(resumed.ckpt_dir)] == [4, 8, 12]


def test_with_async_save_off_a_run_saves_in_the_step_and_resumes_bit_for_bit(single_run, tmp_path):
    args = ["--max-steps", str(STEPS), "--checkpoint.interval", str(CKPT_EVERY)]
    off = [*args, "--checkpoint.async-save", "false"]
    first = ok(run_trainer(tmp_path, *off, "--stop-at", "6"))
    assert [s for s, _ in checkpoint.complete(first.ckpt_dir)] == [4, 6]
    assert "trainer: checkpoint" in first.stdout
    second = ok(run_trainer(tmp_path, *off))
    assert "step_00000006" in second.stdout
    assert second.losses() == single_run.losses()  # exact equality, every step
