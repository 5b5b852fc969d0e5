"""Uploaded checkpoints follow `checkpoint.keep`, as the local ones do (trainer/checkpoint.py).

After each committed upload, rank 0 keeps the newest `keep` complete steps in S3 and deletes
every step directory older than the oldest of them: complete ones, and leftovers of uploads cut
short (no manifest), which nothing would ever read. A step newer than that is left alone: it may
be an upload still in flight.

A complete step loses its MANIFEST.json first, in a request of its own, and its other objects
after: a reader (trainer/s3_store.py complete_steps, a restore on another volume) that lists the
bucket in between sees a step without a manifest, which is not a checkpoint, never a complete-
looking step with objects missing. In the versioned bucket a delete leaves a delete marker; the
bucket's lifecycle rules (components/artifacts.py) expire the noncurrent versions.
"""

from __future__ import annotations

import re

from . import s3_store

_STEP_DIR = re.compile(r"^step_(\d{8})$")
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys (S3 API reference)


def prune(url: str, keep: int, s3=None) -> list[int]:
    """Delete the uploaded steps older than the newest `keep` complete ones; returns their
    steps, oldest first."""
    s3 = s3 or s3_store.client()
    bucket, prefix = s3_store.split_url(url)
    listed = s3_store.step_objects(s3, bucket, prefix)  # one listing for both questions
    complete = [step for step, _ in s3_store.complete_steps(url, s3, listed)]
    if len(complete) <= keep:
        return []
    oldest_kept = complete[-keep]
    steps = {
        int(m.group(1)): list(objects)
        for step_dir, objects in listed.items()
        if (m := _STEP_DIR.match(step_dir))
    }
    doomed = sorted(step for step in steps if step < oldest_kept)
    for step in doomed:
        keys = steps[step]
        manifest = next((k for k in keys if k.endswith(f"/{s3_store.MANIFEST}")), None)
        if manifest is not None:
            s3.delete_object(Bucket=bucket, Key=manifest)  # first: the step stops being one
        rest = [k for k in keys if k != manifest]
        for i in range(0, len(rest), DELETE_BATCH):
            batch = [{"Key": k} for k in rest[i : i + DELETE_BATCH]]
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    return doomed
