"""Whole runs with an untied embedding, the presets' default, so that it is looked up and
differentiated by token rows (trainer/embedding.py): the same losses on one and two ranks, a
two-rank checkpoint resumed exactly on one rank, and the non-finite guard. The shared runs of
test_trainer_runs.py use the tiny preset, whose embedding is tied (the plain FSDP root)."""

from __future__ import annotations

import shutil

import pytest
import torch
from trainer_support import assert_close, ok, run_trainer

from trainer import checkpoint, config
from trainer.embedding import rows_move_fewer_bytes

STEPS = 8
# Vocabulary 1000 (the byte tokenizer uses 384 of it): 2 ranks x 4 sequences x 64 tokens = 512
# rows per exchange, fewer bytes than the 1000 rows of the table, so rows it is.
UNTIED = [
    "--model.tie-embeddings",
    "false",
    "--model.vocab-size",
    "1000",
    "--max-steps",
    str(STEPS),
]


def test_the_untied_runs_take_the_row_path():
    cfg = config.from_args(["--preset", "tiny", *UNTIED])
    assert not cfg.model.tie_embeddings
    tokens, fp32 = cfg.micro_batch_size * cfg.seq_len, torch.float32  # fp32 on a CPU
    assert rows_move_fewer_bytes(2, tokens, cfg.model.vocab_size, cfg.model.dim, fp32, fp32)


@pytest.fixture(scope="module")
def untied_two_ranks(tmp_path_factory):
    return ok(
        run_trainer(
            tmp_path_factory.mktemp("untied2"), *UNTIED, "--checkpoint.interval", "4", nproc=2
        )
    )


def test_one_and_two_ranks_train_alike_and_a_checkpoint_moves_between_them(
    untied_two_ranks, tmp_path
):
    single = ok(run_trainer(tmp_path / "one", *UNTIED, "--checkpoint.interval", "0"))
    assert_close(untied_two_ranks.losses(), single.losses(), rtol=1e-6)
    # Step 4 of the two ranks, resumed on one: steps 5..8 as the uninterrupted two-rank run.
    resumed = tmp_path / "resumed"
    (resumed / "ckpt").mkdir(parents=True)
    step4 = untied_two_ranks.ckpt_dir / "step_00000004"
    assert checkpoint.latest(untied_two_ranks.ckpt_dir)[0] == STEPS
    shutil.copytree(step4, resumed / "ckpt" / step4.name)
    run = ok(run_trainer(resumed, *UNTIED, "--checkpoint.interval", "0"))
    assert "written by 2 rank(s)" in run.stdout
    after = {s: v for s, v in untied_two_ranks.losses().items() if s > 4}
    assert_close(run.losses(), after, rtol=1e-6)


def test_a_non_finite_loss_stops_before_its_optimizer_step(tmp_path):
    run = run_trainer(
        tmp_path, *UNTIED, "--debug.nan-at-step", "3", "--checkpoint.interval", "2", nproc=2
    )
    assert run.returncode != 0
    assert "stopped before the optimizer step" in run.stderr
    assert "step 3: loss nan" in run.stderr
    assert max(run.losses()) == 2
    assert checkpoint.latest(tmp_path / "ckpt")[0] == 2
