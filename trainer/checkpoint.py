"""Sharded checkpoints with torch.distributed.checkpoint, published atomically.

Each save goes to a hidden `.tmp-step_NNNNNNNN` directory: DCP shards of the model and optimizer
from every rank, each rank's RNG state, and `trainer_state.json` (step, LR schedule, data position,
config) written last by rank 0. Only when all of it is on disk does rank 0 rename the directory to
`step_NNNNNNNN`, so a crash mid-save leaves nothing that looks like a checkpoint. Resume takes the
newest `step_*` directory that holds both DCP's `.metadata` and `trainer_state.json`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import (
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from .durable import publish, write_json

STATE_FILE = "trainer_state.json"
_COMPLETE = re.compile(r"^step_(\d{8})$")


def step_name(step: int) -> str:
    return f"step_{step:08d}"


def step_of(path: str | Path) -> int:
    return int(_COMPLETE.match(Path(path).name).group(1))


def complete(root: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of every complete checkpoint under root, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _COMPLETE.match(p.name)
        if m and (p / ".metadata").is_file() and (p / STATE_FILE).is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest(root: str | Path) -> tuple[int, Path] | None:
    found = complete(root)
    return found[-1] if found else None


def _rng_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def model_and_optimizer_state(model, optimizer) -> dict:
    """What DCP saves and loads: this rank's shards, as DTensors over the live tensors."""
    return {
        "model": get_model_state_dict(model),
        "optim": get_optimizer_state_dict(model, optimizer),
    }


def begin(root: str | Path, step: int, rank: int) -> tuple[Path, Path] | None:
    """(hidden directory, final name) of a save of `step`, the hidden one empty and made by
    rank 0 (every rank calls it: a barrier); None when `step` is already saved (resumed there,
    nothing trained since)."""
    root = Path(root)
    final = root / step_name(step)
    tmp = root / f".tmp-{step_name(step)}"
    if final.exists():
        return None
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)  # leftovers of a crashed save
        tmp.mkdir(parents=True)
    dist.barrier()
    return tmp, final


def write_rng(tmp: Path, rank: int, device: torch.device) -> None:
    """This rank's RNG state as of now, on disk before this rank's shards are (the commit waits
    for every rank's shards, so for every RNG file too)."""
    (tmp / "rng").mkdir(exist_ok=True)
    path = tmp / "rng" / f"rank_{rank}.pt"
    with open(path, "wb") as f:
        torch.save(_rng_state(device), f)
        f.flush()
        os.fsync(f.fileno())


def commit(tmp: Path, final: Path, trainer_state: dict, keep: int) -> None:
    """Rank 0, once every rank's shards and DCP's `.metadata` are on disk: the trainer state
    last, the publish, then the pruning of checkpoints beyond `keep`."""
    write_json(tmp / STATE_FILE, trainer_state, indent=1)
    publish(tmp, final)
    for _, old in complete(final.parent)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def save(
    root: str | Path,
    step: int,
    model,
    optimizer,
    trainer_state: dict,
    keep: int,
    rank: int,
    device: torch.device,
) -> Path:
    """A blocking save: every rank returns once the checkpoint is published.
    trainer/checkpoint_async.py saves without blocking the step."""
    names = begin(root, step, rank)
    if names is None:
        return Path(root) / step_name(step)
    tmp, final = names
    write_rng(tmp, rank, device)
    dcp.save(model_and_optimizer_state(model, optimizer), checkpoint_id=str(tmp))
    dist.barrier()
    if rank == 0:
        commit(tmp, final, trainer_state, keep)
    dist.barrier()
    return final


def load(path: str | Path, model, optimizer, rank: int, device: torch.device) -> dict:
    """Load into an already sharded model and optimizer (any world size); returns the trainer
    state. RNG state is restored when this rank saved one (same world size)."""
    path = Path(path)
    state = model_and_optimizer_state(model, optimizer)
    dcp.load(state, checkpoint_id=str(path))
    set_model_state_dict(model, state["model"])
    set_optimizer_state_dict(model, optimizer, state["optim"])
    rng_file = path / "rng" / f"rank_{rank}.pt"
    if rng_file.is_file():
        rng = torch.load(rng_file, weights_only=True)
        torch.set_rng_state(rng["cpu"])
        if "cuda" in rng and device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], device)
    with open(path / STATE_FILE) as f:
        return json.load(f)
