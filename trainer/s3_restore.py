"""Restore the newest complete uploaded checkpoint with every rank downloading a share of it.

Rank 0 picks the step (trainer/s3_store.py complete_steps: manifest present, every object at its
size) and empties the hidden `.tmp-s3-step_NNNNNNNN` in the checkpoint directory; the manifest's
files are dealt to the ranks by size (`assign`), each rank downloads its share into that
directory at the same time as the others, and once all are done rank 0 renames it to
`step_NNNNNNNN`, so the local protocol (trainer/checkpoint.py) holds as before: a restore cut
short leaves nothing that looks like a checkpoint.

The ranks meet in `group`, a gloo group whose timeout is made for transfers (trainer/s3_sync.py),
never in the training process group: a download can take longer than its timeout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch.distributed as dist

from . import checkpoint, durable, s3_store


def assign(files: dict[str, int], world: int) -> list[list[str]]:
    """The files each rank downloads: largest first, each to the rank with the fewest bytes so
    far (ties: the lowest rank), so every rank moves about the same amount."""
    shares: list[list[str]] = [[] for _ in range(world)]
    loads = [0] * world
    for rel, size in sorted(files.items(), key=lambda kv: (-kv[1], kv[0])):
        r = loads.index(min(loads))
        shares[r].append(rel)
        loads[r] += size
    return shares


def restore_latest(
    url: str, root: str | Path, rank: int, world: int, group=None, s3=None
) -> Path | None:
    """Every rank calls this; returns the restored step directory, or None when the bucket
    holds no complete checkpoint. `group` None: the default group (a one-rank run)."""
    s3 = s3 or s3_store.client()
    root = Path(root)
    chosen: list = [None]
    if rank == 0:
        steps = s3_store.complete_steps(url, s3)
        chosen = [steps[-1] if steps else None]
        if steps:
            tmp = root / f".tmp-s3-{checkpoint.step_name(steps[-1][0])}"
            shutil.rmtree(tmp, ignore_errors=True)  # a cut-short restore
            tmp.mkdir(parents=True)
    dist.broadcast_object_list(chosen, src=0, group=group)
    if chosen[0] is None:
        return None
    step, manifest = chosen[0]
    name = checkpoint.step_name(step)
    final, tmp = root / name, root / f".tmp-s3-{name}"
    bucket, prefix = s3_store.split_url(url)
    base = f"{prefix}/{name}" if prefix else name
    for rel in assign(manifest["files"], world)[rank]:
        dest = tmp / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, f"{base}/{rel}", str(dest))
    dist.barrier(group=group)  # every share is on disk
    if rank == 0:
        durable.publish(tmp, final)  # the commit point, as for a save
    dist.barrier(group=group)  # every rank sees the restored directory before looking for it
    return final
