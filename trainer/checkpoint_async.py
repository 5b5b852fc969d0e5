"""Checkpoint saves that do not stall the training step, with trainer/checkpoint.py's commit
protocol unchanged.

A save copies this rank's shards of the model and optimizer into host memory (DCP's staging:
the only part the step waits for), and a thread writes the copy with `dcp.async_save` while
training goes on. Only when every rank's shards and DCP's `.metadata` are on disk (DCP's save
returns on rank 0 after gathering every rank's write results, torch 2.13
torch/distributed/checkpoint/state_dict_saver.py) does rank 0 write the trainer state and
publish the directory by rename; the ranks then meet once more, so each knows the checkpoint is
published before its `then` (the S3 upload) starts. A process killed at any point before the
rename leaves the previous checkpoint the newest complete one.

At most one save is in flight: the staging buffers are reused by the next save (DCP's
DefaultStager caches them per source storage, torch 2.13
torch/distributed/checkpoint/_state_dict_stager.py), so a new save waits for the previous one
first. `checkpoint.async_save=false` saves in the step instead (no second copy of the state in
host memory).
"""

from __future__ import annotations

import concurrent.futures
import sys
import weakref
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.staging import DefaultStager, StagingOptions

from . import checkpoint


def staging_options(device: torch.device) -> StagingOptions:
    """Pinned host buffers and non-blocking device-to-host copies on a GPU (DCP refuses both
    without CUDA); the copy itself stays in the step (no staging thread), so the next optimizer
    step cannot change a tensor before it is copied."""
    gpu = device.type == "cuda"
    return StagingOptions(
        use_pinned_memory=gpu,
        use_shared_memory=False,  # only for AsyncCheckpointerType.PROCESS
        use_async_staging=False,
        use_non_blocking_copy=gpu,
    )


_savers: weakref.WeakSet[Saver] = weakref.WeakSet()


def drain_in_flight() -> None:
    """wait() on every save still in flight, on a way out that is already failing (or done): a
    checkpoint of an earlier, good step still completes. A failure of it is printed, not raised
    over the error on its way out."""
    for saver in list(_savers):
        try:
            saver.wait()
        except (Exception, CheckpointException) as e:  # DCP's is a BaseException
            print(f"trainer: the checkpoint save in flight failed: {e}", file=sys.stderr)
        saver.close()


class Saver:
    """Every rank makes one, at the same point (it creates a process group), before training."""

    def __init__(
        self, rank: int, device: torch.device, timeout_s: float, asynchronous: bool = True
    ):
        self.rank, self.device = rank, device
        self.timeout_s = timeout_s  # how long wait() waits for a save before giving up
        self.asynchronous = asynchronous
        self.group = self.stager = self._commits = None
        self._pending: concurrent.futures.Future | None = None
        self.pending_step: int | None = None
        _savers.add(self)
        if asynchronous:
            # The writer thread's collectives (DCP's plan exchange, the gather of write results,
            # the meeting after the publish) run while the training thread issues its own. On one
            # process group, two threads' collectives could pair up differently on each rank, so
            # they get a group of their own. It is gloo: async_save requires a CPU backend
            # (state_dict_saver.py asserts one), and the training group is NCCL on GPUs.
            self.group = dist.new_group(backend="gloo", timeout=timedelta(seconds=timeout_s))
            self.stager = DefaultStager(staging_options(device))
            self._commits = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="checkpoint-commit"
            )

    def start(
        self,
        root: str | Path,
        step: int,
        model,
        optimizer,
        trainer_state: dict,
        keep: int,
        then: Callable[[Path], None] | None = None,
    ) -> Path:
        """Save `step` (every rank, in the training thread); returns its final path, which holds
        a complete checkpoint once wait() has returned. `then(path)` runs on every rank once the
        checkpoint is published: in the commit thread when saving asynchronously."""
        self.wait()
        names = checkpoint.begin(root, step, self.rank)
        if names is None:  # already there: nothing to write
            path = Path(root) / checkpoint.step_name(step)
            if then:
                then(path)
            return path
        tmp, final = names
        checkpoint.write_rng(tmp, self.rank, self.device)
        state = checkpoint.model_and_optimizer_state(model, optimizer)
        if not self.asynchronous:
            dcp.save(state, checkpoint_id=str(tmp))
            self._commit(tmp, final, trainer_state, keep, then, group=None)
            return final
        # Returns once the state is staged (copied to host memory); the write and DCP's
        # collectives then run in a thread of DCP's own (AsyncCheckpointerType.THREAD, the
        # default: the file writes release the GIL, and a writer process would need the staged
        # copy in shared memory and a process group of its own).
        written = dcp.async_save(
            state, checkpoint_id=str(tmp), process_group=self.group, async_stager=self.stager
        )
        self.pending_step = step
        self._pending = self._commits.submit(
            self._after_write, written, tmp, final, trainer_state, keep, then
        )
        return final

    def _after_write(self, written, tmp, final, trainer_state, keep, then) -> None:
        written.result()
        self._commit(tmp, final, trainer_state, keep, then, group=self.group)

    def _commit(self, tmp, final, trainer_state, keep, then, group) -> None:
        """Every rank, once its own DCP save returned (on rank 0: every rank's shards written)."""
        dist.barrier(group=group)
        if self.rank == 0:
            checkpoint.commit(tmp, final, trainer_state, keep)
        dist.barrier(group=group)  # published, as every rank now knows
        if then:
            then(final)

    @property
    def busy(self) -> bool:
        return self._pending is not None and not self._pending.done()

    def wait(self, timeout_s: float | None = None) -> int | None:
        """Until the save in flight, if any, is published and its `then` has run; returns its
        step. Raises what the save raised, or TimeoutError after `timeout_s` (default: the
        process group's timeout, which a save must fit in: trainer/checkpoint_budget.py)."""
        if self._pending is None:
            return None
        pending, step = self._pending, self.pending_step
        try:
            pending.result(timeout=self.timeout_s if timeout_s is None else timeout_s)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(
                f"the checkpoint of step {step} was not written within "
                f"{self.timeout_s if timeout_s is None else timeout_s:g} s"
            ) from None
        finally:
            if pending.done():
                self._pending = self.pending_step = None
        return step

    def close(self) -> None:
        """After the last wait(): the staging buffers and the commit thread go."""
        if self.stager is not None:
            self.stager.close()
            self.stager = None
        if self._commits is not None:
            self._commits.shutdown(wait=False)
