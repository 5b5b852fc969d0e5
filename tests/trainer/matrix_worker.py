"""One rank of the GPU-configuration matrix (test_gpu_matrix.py): `argv` = a folder for the
checkpoints, then the cells to run, all of this process group's world size. Every cell builds the
trainer's model as a run does (train.build_model: parallelize, FSDP2, init), runs two optimizer
steps through train.train_step on data of its own, and records on rank 0, one JSON line per cell:

- the two steps' global losses, and the loss of step 2 again after a save at step 1
  (trainer/checkpoint.py) and a resume into a freshly built model and optimizer;
- per step, the largest relative gradient error of any parameter against an unwrapped fp32 model
  (plain nn.Embedding, full logits and F.cross_entropy: none of the trainer's own autograd
  paths) given the same parameters and all ranks' data;
- or the error the cell raised.

A cell that raises on one rank raises on every rank (the same code on the same shapes), so the
group stays in step and the next cell runs.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import torch
import torch.nn.functional as F
from matrix_cells import Cell

from trainer import checkpoint, config, distributed, train
from trainer.exit_codes import exit_process
from trainer.model import Transformer

SEQ_LEN = 32
MICRO_BATCH = 2  # sequences per micro-batch and rank


def cell_config(cell: Cell) -> config.TrainConfig:
    """The tiny preset's structure (grouped-query attention, SwiGLU, RoPE) with the cell's
    settings; no gradient clipping, so the gradients the optimizer sees are backward's."""
    return config.build(
        "tiny",
        {
            "model": {"tie_embeddings": cell.tied},
            "seq_len": SEQ_LEN,
            "micro_batch_size": MICRO_BATCH,
            "global_batch_size": MICRO_BATCH * cell.micro_batches * cell.world,
            "optim": {"grad_clip": 0.0},
            "parallel": {
                "mixed_precision": cell.precision,
                "activation_checkpointing": cell.checkpointing,
                "compile": cell.compiled,
            },
        },
    )


def step_data(cfg: config.TrainConfig, cell: Cell, step: int) -> torch.Tensor:
    """All ranks' sequences of one step, [ranks x micro-batches x MICRO_BATCH, SEQ_LEN + 1]."""
    gen = torch.Generator().manual_seed(1000 + step)
    rows = cell.world * cell.micro_batches * MICRO_BATCH
    return torch.randint(0, cfg.model.vocab_size, (rows, SEQ_LEN + 1), generator=gen)


def rank_micro_batches(batch: torch.Tensor, rank: int, micro_batches: int) -> list[torch.Tensor]:
    mine = batch.chunk(batch.shape[0] // (MICRO_BATCH * micro_batches))[rank]
    return list(mine.chunk(micro_batches))


def _name(fsdp_name: str) -> str:
    return fsdp_name.replace("_checkpoint_wrapped_module.", "")


def gather_full(sharded: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Whole tensors from FSDP2's dim-0 shards (torch.chunk-style: rank r holds rows from
    r x ceil(rows / world)), all in one all-gather instead of one per tensor, which on gloo is
    most of a cell's time. Every rank calls it with the same names."""
    world = torch.distributed.get_world_size()
    locals_ = {n: t.to_local().detach() for n, t in sharded.items()}
    per_rank = {n: -(-sharded[n].shape[0] // world) for n in sharded}
    parts = []
    for n, t in locals_.items():
        padded = t.new_zeros(per_rank[n], *t.shape[1:])
        padded[: t.shape[0]] = t
        parts.append(padded.reshape(-1).float())
    flat = torch.cat(parts)
    everyone = flat.new_empty(world * flat.numel())
    torch.distributed.all_gather_into_tensor(everyone, flat)
    everyone = everyone.view(world, -1)
    out, start = {}, 0
    for n, t in sharded.items():
        size = per_rank[n] * t[0].numel() if t.ndim else 1
        rows = everyone[:, start : start + size].reshape(world * per_rank[n], *t.shape[1:])
        out[n] = rows[: t.shape[0]].clone()
        start += size
    return out


def full_params(model) -> dict[str, torch.Tensor]:
    """Every parameter whole (a collective: every rank calls it)."""
    return gather_full({_name(n): p for n, p in model.named_parameters()})


def reference_grads(cfg, params: dict[str, torch.Tensor], batch: torch.Tensor):
    """(loss, gradients) of the global mean loss over `batch`, by an unwrapped fp32 model with
    `params`, through plain torch ops only."""
    with torch.device("meta"):
        ref = Transformer(cfg.model, rope_len=cfg.seq_len)
    ref.to_empty(device="cpu")
    ref.init_weights(cfg.seed)  # the rope tables; every parameter is overwritten below
    ref.load_state_dict(params, strict=False)
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = ref(inputs)  # no targets: the full logits, not trainer/loss.py
    loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.reshape(-1))
    loss.backward()
    return loss.item(), {n: p.grad for n, p in ref.named_parameters()}


def relative_errors(got: dict, want: dict) -> dict[str, float]:
    assert got.keys() == want.keys(), (sorted(got), sorted(want))
    return {
        n: ((got[n].float() - want[n]).norm() / want[n].norm().clamp_min(1e-30)).item()
        for n in want
    }


def run_cell(cell: Cell, d: distributed.Dist, root: Path) -> dict:
    cfg = cell_config(cell)
    model = train.build_model(cfg, d)
    opt, _ = train.build_optimizer(model, cfg, d.device)
    seen: list[dict[str, torch.Tensor]] = []
    # The gradients as the optimizer gets them (after accumulation and FSDP's reduction).
    opt.register_step_pre_hook(
        lambda *_: seen.append(gather_full({_name(n): p.grad for n, p in model.named_parameters()}))
    )
    out: dict = {"losses": [], "ref_losses": [], "grad_errors": []}
    saved = None
    for step in (1, 2):
        batch = step_data(cfg, cell, step)
        params = full_params(model)
        loss, _ = train.train_step(
            model, opt, rank_micro_batches(batch, d.rank, cell.micro_batches), cfg, d, step
        )
        ref_loss, ref_grads = reference_grads(cfg, params, batch)
        errors = relative_errors(seen[-1], ref_grads)
        worst = max(errors, key=errors.get)
        out["losses"].append(loss)
        out["ref_losses"].append(ref_loss)
        out["grad_errors"].append({"max": errors[worst], "param": worst})
        if step == 1:
            saved = checkpoint.save(root / cell.id, 1, model, opt, {"step": 1}, 1, d.rank, d.device)
    # Resume from step 1 into a new model and optimizer: step 2 again.
    model2 = train.build_model(cfg, d)
    opt2, _ = train.build_optimizer(model2, cfg, d.device)
    checkpoint.load(saved, model2, opt2, d.rank, d.device)
    batch = step_data(cfg, cell, 2)
    resumed, _ = train.train_step(
        model2, opt2, rank_micro_batches(batch, d.rank, cell.micro_batches), cfg, d, 2
    )
    out["resumed_loss"] = resumed
    return out


def main() -> None:
    root, ids = Path(sys.argv[1]), sys.argv[2:]
    d = distributed.init()
    for cell_id in ids:
        cell = Cell.parse(cell_id)
        assert cell.world == d.world_size, (cell_id, d.world_size)
        try:
            result = run_cell(cell, d, root)
        except Exception as e:  # recorded: the test names the cell and the error
            result = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-3000:]}
        if cell.compiled:
            torch._dynamo.reset()  # the next cell's blocks compile afresh, not as a recompile
        if d.rank == 0:
            print(json.dumps({"cell": cell_id, **result}), flush=True)
    distributed.shutdown()
    exit_process(0)  # no interpreter finalization after gloo: it can abort (trainer/exit_codes.py)


if __name__ == "__main__":
    main()
