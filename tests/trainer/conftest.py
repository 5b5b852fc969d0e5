"""Fixtures of the trainer tests: one uninterrupted run per world size, shared by the tests."""

from __future__ import annotations

import pytest
from trainer_support import CKPT_EVERY, STEPS, Run, ok, run_trainer


@pytest.fixture(scope="session")
def single_run(tmp_path_factory) -> Run:
    """The reference: one process, uninterrupted."""
    return ok(
        run_trainer(
            tmp_path_factory.mktemp("single"),
            "--max-steps",
            str(STEPS),
            "--checkpoint.interval",
            str(CKPT_EVERY),
            "--metrics.val-interval",  # validation happens only where asked for
            str(STEPS),
            "--checkpoint.keep",
            "5",
            "--checkpoint.export",
            "weights",
            "--checkpoint.export-dtype",  # exact: compared with exports of its checkpoints
            "float32",
            "--metrics.plot",  # the one run that draws loss.png
            "true",
            "--metrics.tensorboard",  # ... and writes TensorBoard files
            "true",
        )
    )


@pytest.fixture(scope="session")
def two_rank_run(tmp_path_factory) -> Run:
    return ok(
        run_trainer(
            tmp_path_factory.mktemp("two"),
            "--max-steps",
            str(STEPS),
            "--checkpoint.interval",
            str(CKPT_EVERY),
            "--metrics.val-interval",  # validation happens only where asked for
            str(STEPS),
            "--checkpoint.keep",
            "2",
            nproc=2,
        )
    )
