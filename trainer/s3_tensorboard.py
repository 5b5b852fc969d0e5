"""The run's TensorBoard event files in S3, beside its checkpoints.

metrics.out_dir is not the checkpoint directory (the stack puts them side by side on the job's
volume), so a checkpoint upload alone would leave the event files behind. Rank 0's uploader
copies metrics.out_dir/tensorboard to `checkpoint.upload`/tensorboard after each checkpoint it
commits (trainer/s3_upload.py), so `tensorboard --logdir s3://BUCKET/checkpoints/JOB/tensorboard`
shows the run up to its newest uploaded checkpoint. The prefix is not a `step_` directory, so
restore and retention (trainer/s3_store.py, s3_retention.py) never look at it.

Event files only grow, and a start writes a new one: a file whose size changed since its last
upload is sent again whole (they are small: a few hundred bytes per step).
"""

from __future__ import annotations

from pathlib import Path

from . import s3_store

PREFIX = "tensorboard"


def url_of(checkpoint_url: str) -> str:
    bucket, prefix = s3_store.split_url(checkpoint_url)
    return f"s3://{bucket}/{prefix}/{PREFIX}" if prefix else f"s3://{bucket}/{PREFIX}"


class EventSync:
    """Copies a local TensorBoard directory to S3, each file again only when it grew."""

    def __init__(self, local: Path, checkpoint_url: str):
        self.local = local
        self.bucket, self.prefix = s3_store.split_url(url_of(checkpoint_url))
        self.sent: dict[str, int] = {}  # relative path -> size uploaded

    def sync(self, s3) -> list[str]:
        """Upload what changed; returns the relative paths sent."""
        if not self.local.is_dir():
            return []
        sent = []
        for f in sorted(p for p in self.local.rglob("*") if p.is_file()):
            rel = f.relative_to(self.local).as_posix()
            size = f.stat().st_size
            if self.sent.get(rel) != size:
                s3.upload_file(str(f), self.bucket, f"{self.prefix}/{rel}")
                self.sent[rel] = size
                sent.append(rel)
        return sent
