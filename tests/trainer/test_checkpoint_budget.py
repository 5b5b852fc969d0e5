"""The checkpoint budget from the trainer's side: its parameter count is the model's, and a run
whose checkpoint cannot be written within its share of the process-group timeout stops at start
with a config error (exit 2) naming the option."""

from __future__ import annotations

import pytest
import torch
from trainer_support import run_trainer

from trainer import checkpoint_budget
from trainer import config as trainer_config
from trainer.exit_codes import EXIT_CONFIG
from trainer.model import Transformer


@pytest.mark.parametrize("preset", list(trainer_config.PRESETS))
def test_the_budget_counts_the_models_parameters(preset):
    cfg = trainer_config.build(preset)
    with torch.device("meta"):
        model = Transformer(cfg.model, rope_len=cfg.seq_len)
    assert checkpoint_budget.param_count(cfg.model.model_dump()) == model.num_params()


def test_a_run_whose_checkpoint_cannot_finish_in_time_is_refused_with_exit_2(tmp_path):
    # The tiny model's 1.5 MB checkpoint at 0.001 MB/s: about 25 minutes, against 300 s.
    run = run_trainer(tmp_path, "--max-steps", "2", "--checkpoint.volume-throughput-mbps", "0.001")
    assert run.returncode == EXIT_CONFIG, run.stderr[-2000:]
    assert "checkpoint.volume_throughput_mbps=0.001: writing the" in run.stderr
    assert "parallel.timeout_s=600" in run.stderr
    assert not list((tmp_path / "ckpt").glob("step_*"))  # stopped before any step
    # The same run with a volume fast enough trains.
    ok = run_trainer(
        tmp_path / "ok", "--max-steps", "2", "--checkpoint.volume-throughput-mbps", "100"
    )
    assert ok.returncode == 0, ok.stderr[-2000:]


def test_with_asynchronous_saves_the_grace_also_covers_the_save_in_flight():
    # 12 GB at 100 MB/s: 120 s a save; no uploads.
    blocking = checkpoint_budget.Budget(12 * 10**9, 100, 600)
    background = checkpoint_budget.Budget(12 * 10**9, 100, 600, async_save=True)
    assert blocking.grace_s == 120 + 60
    assert background.grace_s == 2 * 120 + 60
