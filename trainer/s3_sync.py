"""When the trainer talks to S3 during a run (`checkpoint.upload`): restore before the first
step if the checkpoint directory is empty, upload every `upload_every`-th checkpoint and the
last one, upload the export at the end. The protocol that makes each upload atomic for a reader
is trainer/s3_store.py's.

Transfers never run inside the training process group's timeout (trainer/checkpoint_budget.py):
each rank uploads its own files on a background thread (trainer/s3_upload.py) while training goes
on, and the restore and the waits at the end meet in a gloo group of their own whose timeout is
made for transfers. A checkpoint due while the previous upload still runs on some rank is not
uploaded (a log line says so; the next one due is): the ranks agree on that in the same group, so
they all skip the same step. The run's last checkpoint, and the one saved on SIGTERM, is always
uploaded and waited for, with progress lines.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from . import (
    checkpoint,
    distributed,
    logline,
    s3_models,
    s3_restore,
    s3_store,
    s3_tensorboard,
    s3_upload,
)
from .config_sections import CheckpointConfig

# The transfer group's timeout: long, since a rank that dies ends the whole group (torchrun
# restarts it) and this only bounds a hang; a 96 GB restore at 150 MB/s takes 11 minutes.
TRANSFER_TIMEOUT = timedelta(seconds=s3_upload.COMMIT_TIMEOUT_S)


class Uploads:
    def __init__(
        self, cfg: CheckpointConfig, d: distributed.Dist, tensorboard_dir: Path | None = None
    ):
        """`tensorboard_dir`: rank 0's TensorBoard files, uploaded with each checkpoint."""
        self.cfg, self.d = cfg, d
        self.url = cfg.upload
        self.saves = 0
        self.last_uploaded: Path | None = None
        self.group = self.uploader = None
        if self.url:
            # Every rank creates it at the same point (new_group is collective), before training.
            self.group = dist.new_group(backend="gloo", timeout=TRANSFER_TIMEOUT)
            events = None
            if tensorboard_dir is not None and d.is_main:
                events = s3_tensorboard.EventSync(tensorboard_dir, self.url)
            self.uploader = s3_upload.Uploader(
                self.url, d.rank, d.world_size, cfg.keep, say=self._say, events=events
            )

    @property
    def default_export(self) -> str | None:
        """With uploads on, a run always exports: the model is what `models/` is for."""
        return os.path.join(self.cfg.dir, "model") if self.url else None

    def _say(self, msg: str) -> None:
        if self.d.is_main:
            logline.emit(msg)

    def restore_if_empty(self) -> None:
        """Bring the newest complete uploaded checkpoint back when there is no local one (a new
        volume); `checkpoint.resume=false` means a fresh run, so nothing is restored then."""
        if not self.url or not self.cfg.resume or checkpoint.latest(self.cfg.dir):
            return
        Path(self.cfg.dir).mkdir(parents=True, exist_ok=True)
        got = s3_restore.restore_latest(
            self.url, self.cfg.dir, self.d.rank, self.d.world_size, self.group
        )
        self._say(f"s3: restored {got} from {self.url}" if got else f"s3: none in {self.url}")

    def _any_busy(self) -> bool:
        busy = torch.tensor([int(self.uploader.busy)])
        dist.all_reduce(busy, op=dist.ReduceOp.MAX, group=self.group)
        return bool(busy.item())

    def saved(self, path: Path | None, *, final: bool) -> None:
        """After a complete local save (every rank): upload it when it is due, or the run's last,
        and wait for the last."""
        if not self.url or path is None or not self.cfg.upload_every:
            return
        self.saves += not final
        due = final or self.saves % self.cfg.upload_every == 0
        if due and path != self.last_uploaded:
            if self._any_busy():
                if not final:
                    self._say(
                        f"s3: {path.name} not uploaded: an earlier upload is still running "
                        "(the next checkpoint due is)"
                    )
                    return
                self.uploader.wait()
            self.uploader.start(path)
            self.last_uploaded = path
        if final:
            self.finish()

    def finish(self) -> None:
        """Wait for this rank's upload, then for every rank's, in the transfer group: no rank
        meets the others in the training group while one still uploads."""
        if self.uploader is not None:
            self.uploader.wait()
            dist.barrier(group=self.group)

    def exported(self, path: Path | None, step: int | None = None) -> None:
        """Every rank calls it; rank 0 holds the export (of `step`) and uploads it."""
        if not self.url:
            return
        if path is not None and self.d.is_main:
            url = s3_models.upload(path, s3_store.models_url(self.url), step=step, say=self._say)
            self._say(f"s3: uploaded {url}")
        dist.barrier(group=self.group)
