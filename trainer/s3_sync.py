"""When the trainer talks to S3 during a run (`checkpoint.upload`): restore before the first
step if the checkpoint directory is empty, upload every `upload_every`-th checkpoint and the
last one, upload the export at the end. Rank 0 does the transfers; the protocol that makes each
upload atomic for a reader is trainer/s3_store.py's."""

from __future__ import annotations

import os
from pathlib import Path

import torch.distributed as dist

from . import checkpoint, distributed, s3_store
from .config_sections import CheckpointConfig


class Uploads:
    def __init__(self, cfg: CheckpointConfig, d: distributed.Dist):
        self.cfg, self.d = cfg, d
        self.url = cfg.upload
        self.saves = 0
        self.last_uploaded: Path | None = None

    @property
    def default_export(self) -> str | None:
        """With uploads on, a run always exports: the model is what `models/` is for."""
        return os.path.join(self.cfg.dir, "model.pt") if self.url else None

    def _say(self, msg: str) -> None:
        if self.d.is_main:
            print(msg, flush=True)

    def restore_if_empty(self) -> None:
        """Bring the newest complete uploaded checkpoint back when there is no local one (a new
        volume); `checkpoint.resume=false` means a fresh run, so nothing is restored then."""
        if not self.url or not self.cfg.resume or checkpoint.latest(self.cfg.dir):
            return
        if self.d.is_main:
            Path(self.cfg.dir).mkdir(parents=True, exist_ok=True)
            got = s3_store.restore_latest(self.url, self.cfg.dir)
            self._say(f"s3: restored {got} from {self.url}" if got else f"s3: none in {self.url}")
        dist.barrier()  # every rank sees the restored directory before looking for it

    def saved(self, path: Path | None, *, final: bool) -> None:
        """After a complete local save: upload it when it is due, or the run's last."""
        if not self.url or path is None or not self.cfg.upload_every:
            return
        self.saves += not final
        due = final or self.saves % self.cfg.upload_every == 0
        if not due or path == self.last_uploaded:
            return
        if self.d.is_main:
            self._say(f"s3: uploaded {path.name} to {s3_store.upload_checkpoint(self.url, path)}")
        self.last_uploaded = path

    def exported(self, path: Path | None) -> None:
        if self.url and path is not None and self.d.is_main:
            self._say(f"s3: uploaded {s3_store.upload_file(path, s3_store.models_url(self.url))}")
