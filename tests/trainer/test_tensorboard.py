"""TensorBoard event files beside metrics.jsonl, read back with TensorBoard's own reader
(tensorboard 2.20 tensorboard/backend/event_processing/event_accumulator.py): the scalars of a
run match its metrics.jsonl, and a resumed run's redone steps show once, with their new values.
The reference run's files: tests/trainer/test_trainer_runs.py (it shares that run)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from trainer_support import assert_same_scalars, expected_scalars, tensorboard_scalars

from trainer import metrics, tensorboard_log

pytest.importorskip("tensorboard", reason="the test extra's reader")


def recorder(out: Path, first_step: int, tensorboard: bool = True) -> metrics.Recorder:
    return metrics.Recorder(
        str(out), 10, 1e6, 1.0, 1, True, tensorboard=tensorboard, first_step=first_step
    )


def train(rec: metrics.Recorder, steps: range, offset: float) -> None:
    for s in steps:
        rec.step(s, loss=10.0 - s + offset, lr=1e-3 * s, grad_norm=1.0 + offset, step_time=0.1,
                 data_time=0.01, tokens=64)  # fmt: skip
        if s % 2 == 0:
            rec.log(s, 10.0 - s + offset, torch.device("cpu"))
    rec.write({"kind": "val", "step": steps[-1], "loss": 5.0 + offset})


def test_a_resumed_run_shows_each_step_once_with_its_newest_value(tmp_path):
    first = recorder(tmp_path, first_step=1)
    train(first, range(1, 8), offset=0.0)  # killed after step 7; its checkpoint: step 4
    first.flush()  # as a progress line does; the kill loses nothing written before it
    again = recorder(tmp_path, first_step=5)
    train(again, range(5, 11), offset=0.5)
    again.close()
    files = list(tensorboard_log.directory(tmp_path).iterdir())
    assert len(files) == 2  # one event file per start

    got = tensorboard_scalars(tensorboard_log.directory(tmp_path))
    assert list(got["train/loss"]) == list(range(1, 11))
    assert got["train/loss"][4] == 6.0 and got["train/loss"][5] == 5.5  # the old before 5
    assert got["val/loss"] == {10: 5.5}  # step 7's validation was purged with the rest
    # metrics.jsonl's newest record of each step; it still holds the killed start's validation
    # at step 7, which the resumed start did not redo (it validated at 10).
    records = {kind: first.records(kind) for kind in tensorboard_log.TAGS}
    assert records["val"].pop(7)["loss"] == 5.0
    assert_same_scalars(got, expected_scalars(records))


def test_metrics_tensorboard_false_writes_no_event_files(tmp_path):
    rec = recorder(tmp_path, first_step=1, tensorboard=False)
    train(rec, range(1, 3), offset=0.0)
    rec.close()
    assert (tmp_path / "metrics.jsonl").exists()
    assert not tensorboard_log.directory(tmp_path).exists()
