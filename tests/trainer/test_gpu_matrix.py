"""Every configuration a GPU run can take, run on this CPU (bf16 mixed precision runs here too):
{1, 2} ranks x {fp32, bf16} x {tied, untied} x {1, 2} micro-batches x {none, full, selective}
activation checkpointing, eagerly, plus the compiled cells of matrix_cells.COMPILED. Each cell
takes two optimizer steps through the trainer's own functions (matrix_worker.py): the losses are
finite and those of an unwrapped fp32 model (plain embedding, full logits, F.cross_entropy) on the
same data, the gradients are that model's, and a save at step 1 resumed into a new model repeats
step 2's loss. Untied cells take the token-row embedding (trainer/embedding.py) and every cell the
chunked fused loss (trainer/loss.py), so both custom autograd paths are checked under bf16 FSDP.

Fast by construction: the cells of one world size run in one process group started once (one
process; two under torchrun), the two groups at the same time. The compiled cell is marked slow
(inductor's C++ kernels: about 40 s of CPU on a cold cache, a few seconds warm); `make test` runs
it too, in the two-rank group's run (`-m "not slow"` leaves it out of that run).

Before the fix of issue 24 (trainer/parallelize.py reduce_after_micro_batch), the one-rank bf16
untied cells with two micro-batches raised AttributeError on FSDP's `_unsharded_param` at the
first micro-batch.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from matrix_cells import COMPILED, EAGER, Cell
from trainer_support import _env

WORKER = Path(__file__).with_name("matrix_worker.py")

# Largest relative error ||g - g_ref|| / ||g_ref|| of any parameter's gradient.
# fp32: the same sums in another order (chunked loss, FSDP's reduction); measured 3.4e-7.
# bf16: parameters and activations are rounded to 8 significant bits (relative step 2^-8 = 3.9e-3)
# at every matmul input, and a gradient passes through several of them, in forward and backward;
# measured 0.010 on every bf16 cell. 3e-2 leaves room for other data; a wrong scale, a lost
# micro-batch or a missing rank's rows is an error of order 0.3 to 1.
GRAD_TOLERANCE = {"fp32": 1e-5, "bf16": 3e-2}
# The step's mean loss against the fp32 model's: measured 1e-8 (fp32) and 1e-5 (bf16) relative.
LOSS_TOLERANCE = {"fp32": 1e-6, "bf16": 1e-3}


def _launch(cells: list[Cell], world: int, out: Path) -> subprocess.Popen:
    ids = [c.id for c in cells if c.world == world]
    launch = [] if world == 1 else ["-m", "torch.distributed.run", "--standalone"]
    procs = [f"--nproc-per-node={world}"] if world > 1 else []
    cmd = [sys.executable, *launch, *procs, str(WORKER), str(out / f"w{world}"), *ids]
    return subprocess.Popen(
        cmd, cwd=out, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def run_matrix(cells: list[Cell], out: Path, timeout: float = 600) -> dict[str, dict]:
    """Each cell's result by id: the process groups of the world sizes the cells have, at once."""
    worlds = sorted({c.world for c in cells})
    procs = [_launch(cells, world, out) for world in worlds]
    results: dict[str, dict] = {}
    for p in procs:
        stdout, stderr = p.communicate(timeout=timeout)
        assert p.returncode == 0, stderr[-3000:]
        for line in stdout.splitlines():
            if line.startswith('{"cell"'):
                record = json.loads(line)
                results[record.pop("cell")] = record
    return results


def check_cell(cell: Cell, got: dict | None) -> None:
    assert got is not None, f"{cell.id}: no result (the worker stopped before it)"
    assert "error" not in got, f"{cell.id}: {got['error']}\n{got['trace']}"
    assert all(map(math.isfinite, got["losses"])), got
    for loss, ref in zip(got["losses"], got["ref_losses"]):
        assert math.isclose(loss, ref, rel_tol=LOSS_TOLERANCE[cell.precision]), got
    for step, err in enumerate(got["grad_errors"], 1):
        assert err["max"] <= GRAD_TOLERANCE[cell.precision], (step, err)
    # The same model, optimizer state and data as the uninterrupted step 2.
    assert math.isclose(got["resumed_loss"], got["losses"][1], rel_tol=1e-6), got


def _compiled_selected(session) -> bool:
    return any(getattr(item, "originalname", "") == "test_compiled_cell" for item in session.items)


@pytest.fixture(scope="module")
def matrix(request, tmp_path_factory) -> dict[str, dict]:
    """Every selected cell's result, from one process group per world size: the compiled cells
    (marked slow) join the two-rank group's run when they are selected, instead of starting
    a torchrun of their own."""
    cells = EAGER + (COMPILED if _compiled_selected(request.session) else [])
    return run_matrix(cells, tmp_path_factory.mktemp("matrix"))


def test_the_matrix_is_the_whole_product():
    assert len({c.id for c in EAGER}) == 2 * 2 * 2 * 2 * 3
    assert all(Cell.parse(c.id) == c for c in EAGER + COMPILED)


@pytest.mark.parametrize("cell", EAGER, ids=lambda c: c.id)
def test_eager_cell(matrix, cell):
    check_cell(cell, matrix.get(cell.id))


@pytest.mark.slow
@pytest.mark.parametrize("cell", COMPILED, ids=lambda c: c.id)
def test_compiled_cell(matrix, cell):
    check_cell(cell, matrix.get(cell.id))
