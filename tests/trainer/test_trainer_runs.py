"""The trainer as it really runs: separate processes, gloo, torchrun, signals, files on disk."""

from __future__ import annotations

import json
import math
import shutil
import signal
import time

import pytest
import torch
from torch.distributed.device_mesh import init_device_mesh
from trainer_support import (
    CKPT_EVERY,
    STEPS,
    assert_close,
    assert_same_scalars,
    expected_scalars,
    export_tensors,
    ok,
    one_rank_gloo,
    run_trainer,
    start_trainer,
    tensorboard_scalars,
)

from trainer import batches, checkpoint, config, export, logline, tensorboard_log, tokenizer, train
from trainer.distributed import Dist


def test_single_process_trains_and_records(single_run):
    losses = single_run.losses()
    assert list(losses) == list(range(1, STEPS + 1))
    assert losses[STEPS] < losses[1] - 1.0  # it learns
    progress = single_run.records("progress")
    assert progress and all(0 < r["mfu"] < 1 and r["tokens_per_s"] > 0 for r in progress.values())
    summary = single_run.records("summary")[None]
    assert summary["steps"] == STEPS and math.isfinite(summary["val_loss"])
    assert (single_run.workdir / "runs" / "loss.png").stat().st_size > 10_000
    assert "MFU" in single_run.stdout and "ETA" in single_run.stdout
    assert [s for s, _ in checkpoint.complete(single_run.ckpt_dir)] == [4, 8, 12]


def test_the_runs_tensorboard_scalars_are_its_metrics_jsonl(single_run):
    """Read with TensorBoard's own reader: every figure of metrics.jsonl, at the same steps."""
    pytest.importorskip("tensorboard", reason="the test extra's reader")
    got = tensorboard_scalars(tensorboard_log.directory(single_run.workdir / "runs"))
    records = {kind: single_run.records(kind) for kind in tensorboard_log.TAGS}
    assert list(got["train/loss"]) == list(range(1, STEPS + 1))
    assert list(got["val/loss"]) == [STEPS]
    assert_same_scalars(got, expected_scalars(records))


def parsed_lines(run) -> list:
    return [p for p in map(logline.parse, run.stdout.splitlines()) if p is not None]


def test_the_trainers_output_reads_back_as_it_recorded_it(single_run):
    """What `trainstack status`/`logs` read from a real run's stdout (trainer/logline.py) agrees
    with metrics.jsonl, line by line."""
    lines = parsed_lines(single_run)
    steps = [p for p in lines if isinstance(p, logline.Progress)]
    recorded = single_run.records("progress")
    assert [p.step for p in steps] == list(recorded) == list(range(1, STEPS + 1))
    for p in steps:
        r = recorded[p.step]
        assert p.max_steps == STEPS and p.loss == pytest.approx(r["loss"], abs=5e-5)
        assert p.tokens_per_s == pytest.approx(r["tokens_per_s"], abs=0.5)
        assert p.tokens_per_s_per_device == pytest.approx(r["tokens_per_s_per_device"], abs=0.5)
        assert p.tflops_per_device == pytest.approx(r["tflops_per_device"], rel=5e-3)
        assert p.mfu == pytest.approx(r["mfu"], abs=5e-4)
        assert p.data_share == pytest.approx(r["data_share"], abs=5e-3)
        assert p.mem_gib == pytest.approx(r["peak_mem_gib"], abs=5e-3)
        assert p.eta_s == int(r["eta_s"]) or (math.isnan(r["eta_s"]) and math.isnan(p.eta_s))
    (val,) = [p for p in lines if isinstance(p, logline.Validation)]
    assert val.step == STEPS
    assert val.loss == pytest.approx(single_run.records("val")[STEPS]["loss"], abs=5e-5)
    saved = [(p.step, p.path) for p in lines if isinstance(p, logline.Checkpoint)]
    assert saved == [(s, str(path)) for s, path in checkpoint.complete(single_run.ckpt_dir)]
    assert logline.newest_checkpoint(single_run.stdout.splitlines()) == saved[-1]
    # Every line that looks like one of the trainer's own is read as one.
    looks = [x for x in single_run.stdout.splitlines() if x.startswith(("step ", "trainer: ch"))]
    assert len(looks) == len(lines)


def test_two_ranks_match_one_process(single_run, two_rank_run):
    assert_close(two_rank_run.losses(), single_run.losses(), rtol=1e-6)
    val_1 = single_run.records("val")[STEPS]["loss"]
    val_2 = two_rank_run.records("val")[STEPS]["loss"]
    assert math.isclose(val_1, val_2, rel_tol=1e-6)
    assert "2 rank(s) on cpu (gloo)" in two_rank_run.stdout
    # Rank 0 alone prints: one progress line per step, each read back.
    steps = [p.step for p in parsed_lines(two_rank_run) if isinstance(p, logline.Progress)]
    assert steps == list(range(1, STEPS + 1))
    # checkpoint.keep=2: only the newest two of steps 4, 8, 12 remain; no temporary left over.
    assert [s for s, _ in checkpoint.complete(two_rank_run.ckpt_dir)] == [8, 12]
    assert sorted(p.name for p in two_rank_run.ckpt_dir.iterdir()) == [
        "step_00000008",
        "step_00000012",
    ]


def test_consolidated_export_from_a_sharded_checkpoint(single_run, two_rank_run, tmp_path):
    want = export_tensors(single_run.workdir / "weights")
    for run, atol in ((single_run, 0.0), (two_rank_run, 1e-5)):
        # The newest complete checkpoint under the root: step 12.
        assert export.main([str(run.ckpt_dir), str(tmp_path / "w"), "--dtype", "float32"]) == 0
        got = export_tensors(tmp_path / "w")
        assert got.keys() == want.keys()
        for k in want:
            # Same process: identical. Two ranks: reduction order differs in the last bits, and
            # Adam's normalised update carries that into weights at about lr * 1e-3.
            assert (got[k] - want[k]).abs().max() <= atol, (k, (got[k] - want[k]).abs().max())


def test_export_of_a_single_run_checkpoint_that_names_a_removed_option(single_run, tmp_path):
    """A checkpoint keeps the config that wrote it, options since removed included
    (metrics.progress): the export reads only the model's shape from it."""
    step, path = checkpoint.latest(single_run.ckpt_dir)
    old = tmp_path / path.name
    shutil.copytree(path, old)
    state = json.loads((old / checkpoint.STATE_FILE).read_text())
    state["config"]["metrics"]["progress"] = "auto"
    (old / checkpoint.STATE_FILE).write_text(json.dumps(state))
    assert export.main([str(old), str(tmp_path / "w"), "--dtype", "float32"]) == 0
    got = export_tensors(tmp_path / "w")
    want = export_tensors(single_run.workdir / "weights")
    assert step == STEPS and all(torch.equal(got[k], want[k]) for k in want)


def test_resume_is_bit_for_bit(single_run, tmp_path):
    first = ok(
        run_trainer(
            tmp_path, "--max-steps", str(STEPS), "--stop-at", "6", "--checkpoint.interval", "0"
        )
    )
    assert [s for s, _ in checkpoint.complete(first.ckpt_dir)] == [6]
    refused = run_trainer(tmp_path, "--max-steps", str(STEPS), "--checkpoint.resume", "false")
    assert refused.returncode == 2 and "holds step 6 of an earlier run" in refused.stderr
    second = ok(
        run_trainer(
            tmp_path,
            "--max-steps",
            str(STEPS),
            "--checkpoint.interval",
            "0",
            "--checkpoint.export",
            "weights",
            "--checkpoint.export-dtype",
            "float32",
        )
    )
    assert "resumed from" in second.stdout and "step 6" in second.stdout
    assert second.losses() == single_run.losses()  # exact equality, every step
    got = export_tensors(tmp_path / "weights")
    want = export_tensors(single_run.workdir / "weights")
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_checkpoint_of_two_ranks_resumes_on_one(two_rank_run, tmp_path):
    (tmp_path / "ckpt").mkdir()
    shutil.copytree(two_rank_run.ckpt_dir / "step_00000008", tmp_path / "ckpt" / "step_00000008")
    run = ok(run_trainer(tmp_path, "--max-steps", str(STEPS)))
    assert "written by 2 rank(s)" in run.stdout
    after = {s: v for s, v in two_rank_run.losses().items() if s > 8}
    assert_close(run.losses(), after, rtol=1e-6)


def test_sigkilled_rank_restarts_and_resumes(two_rank_run, tmp_path):
    run = ok(
        run_trainer(
            tmp_path,
            "--max-steps",
            str(STEPS),
            "--checkpoint.interval",
            str(CKPT_EVERY),
            "--debug.kill-at-step",
            "7",
            "--debug.kill-rank",
            "1",
            nproc=2,
            max_restarts=1,
        )
    )
    assert "resumed from" in run.stdout and "step 4" in run.stdout
    assert_close(run.losses(), two_rank_run.losses(), rtol=1e-6)


def terminate_after(proc, metrics, steps: int) -> tuple[str, str]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if metrics.exists() and metrics.read_text().count('"train"') >= steps:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    return proc.communicate(timeout=60)


def test_sigterm_saves_a_checkpoint_and_truncated_ones_are_ignored(tmp_path):
    proc = start_trainer(tmp_path, "--max-steps", "100000", "--checkpoint.interval", "0")
    out, err = terminate_after(proc, tmp_path / "runs" / "metrics.jsonl", 3)
    assert proc.returncode == 143, err
    saved = checkpoint.latest(tmp_path / "ckpt")
    assert saved is not None and saved[0] >= 3
    assert f"saved step {saved[0]}" in out
    assert logline.SigtermSaved(saved[0]) in map(logline.parse, out.splitlines())
    # A save cut off mid-write, in both shapes it can take: the hidden temporary directory and a
    # directory missing its trainer state.
    half = tmp_path / "ckpt" / ".tmp-step_00090000"
    shutil.copytree(saved[1], half)
    (half / checkpoint.STATE_FILE).unlink()
    broken = tmp_path / "ckpt" / "step_00090001"
    broken.mkdir()
    (broken / ".metadata").write_bytes(b"\x80\x04trunc")
    run = ok(run_trainer(tmp_path, "--max-steps", str(saved[0] + 2), "--checkpoint.interval", "0"))
    assert f"resumed from {saved[1]}" in run.stdout
    assert logline.Resumed(saved[0], str(saved[1]), 1) in parsed_lines(run)
    assert max(run.losses()) == saved[0] + 2


def test_nan_leaves_weights_and_optimizer_untouched():
    cfg = config.build("tiny", {"debug": {"nan_at_step": 1}})
    with one_rank_gloo():
        d = Dist(0, 0, 1, torch.device("cpu"), init_device_mesh("cpu", (1,)))
        model = train.build_model(cfg, d)
        opt, _ = train.build_optimizer(model, cfg, d.device)
        before = {k: v.full_tensor().clone() for k, v in model.state_dict().items()}
        micro = batches.ShardedBatches(cfg, tokenizer.load(None), 0, 1).next_step()
        with pytest.raises(train.NonFiniteError):
            train.train_step(model, opt, micro, cfg, d, step=1)
        after = model.state_dict()
        assert all(torch.equal(before[k], after[k].full_tensor()) for k in before)
        assert len(opt.state) == 0


def test_bad_config_exits_2_naming_the_option(tmp_path, capsys):
    run = run_trainer(tmp_path, "--micro-batch-size", "3")  # the process's own exit code
    assert run.returncode == 2
    assert "global_batch_size=8: must be a multiple of micro_batch_size=3" in run.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert train.main(["--preset", "tiny", "--checkpoint.dir", str(blocker / "ckpt")]) == 2
    assert f"checkpoint.dir={blocker / 'ckpt'}: not writable" in capsys.readouterr().err


def test_batch_not_divisible_by_ranks_is_refused_before_training():
    # run() checks the world right after the process group forms, on every rank, before any
    # collective (train.py), so each rank exits 2 with this line; ray_train checks it before Ray
    # starts (test_trainer_ray.py).
    cfg = config.build("tiny", {"global_batch_size": 4, "micro_batch_size": 4})
    cfg.check_world(1)
    with pytest.raises(config.ConfigError, match=r"micro_batch_size x ranks = 4 x 2"):
        cfg.check_world(2)
