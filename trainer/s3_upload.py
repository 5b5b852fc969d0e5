"""One rank's checkpoint uploads to S3, on a background thread, off the training step.

Each rank sends its own files of a complete local checkpoint (`owner`): its DCP shards
`__R_*.distcp` and `rng/rank_R.pt`; rank 0 also DCP's `.metadata`, `trainer_state.json` and
anything else. Ranks meet through S3, never in a collective, so no upload ever runs inside the
process group's timeout: a rank that is done puts `step_N/.ranks/rank_R.json` (its files and
sizes), and rank 0, once every rank's record is there, writes `step_N/MANIFEST.json`, still the
commit point of trainer/s3_store.py's protocol, and then prunes the steps beyond
`checkpoint.keep` (trainer/s3_retention.py).

One upload at a time per rank: `start` refuses while one runs (trainer/s3_sync.py decides, the
same on every rank, to skip a checkpoint then).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from . import s3_retention, s3_store, s3_tensorboard

RANKS_DIR = ".ranks"
# How long rank 0 waits for the other ranks' records before giving up on the step: long, since a
# rank that died takes the whole group with it (torchrun) and this only bounds a hang.
COMMIT_TIMEOUT_S = 6 * 3600
_RANK_FILE = re.compile(r"^(?:__(\d+)_.*\.distcp|rng/rank_(\d+)\.pt)$")


def owner(rel: str, world: int) -> int:
    """The rank that uploads the file `rel` of a checkpoint: each its own shards and RNG state
    (DCP's FileSystemWriter names them `__{rank}_{n}.distcp`, torch 2.13
    torch/distributed/checkpoint/filesystem.py), rank 0 the rest."""
    m = _RANK_FILE.match(rel)
    if m:
        rank = int(m.group(1) or m.group(2))
        if rank < world:
            return rank
    return 0


def own_files(path: Path, rank: int, world: int) -> dict[str, int]:
    """{relative path: size} of the files of checkpoint `path` this rank uploads."""
    files = {}
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path).as_posix()
        if owner(rel, world) == rank:
            files[rel] = f.stat().st_size
    return files


class Uploader:
    def __init__(
        self,
        url: str,
        rank: int,
        world: int,
        keep: int,
        s3=None,
        say: Callable[[str], None] = print,
        poll_s: float = 1.0,
        events: s3_tensorboard.EventSync | None = None,
    ):
        self.url, self.rank, self.world, self.keep = url, rank, world, keep
        self.events = events  # rank 0: the TensorBoard files, sent after each commit
        self.s3 = s3 or s3_store.client()  # made here: boto3's default session is not thread-safe
        self.say, self.poll_s = say, poll_s
        self.thread: threading.Thread | None = None
        self.step_name: str | None = None
        self.error: BaseException | None = None
        self.done_bytes = self.total_bytes = 0
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def _check(self) -> None:
        if self.error is not None:
            err, self.error = self.error, None
            raise err

    def start(self, path: Path) -> None:
        """Upload this rank's files of `path` in the background (one upload at a time)."""
        self._check()
        if self.busy:
            raise RuntimeError(f"{self.step_name} is still uploading")
        files = own_files(path, self.rank, self.world)
        self.step_name, self.done_bytes, self.total_bytes = path.name, 0, sum(files.values())
        self.thread = threading.Thread(
            target=self._run, args=(path, files), name=f"s3-upload-{path.name}", daemon=True
        )
        self.thread.start()

    def wait(self, every_s: float = 30.0) -> None:
        """Until this rank's upload (rank 0: and the commit) is done, a progress line every
        `every_s` seconds; raises what the upload raised."""
        while self.busy:
            self.thread.join(every_s)
            if self.busy:
                with self._lock:
                    done, total = self.done_bytes, self.total_bytes
                self.say(
                    f"s3: uploading {self.step_name}: {done / 1e9:.2f} of {total / 1e9:.2f} GB "
                    f"sent by rank {self.rank}"
                    + (", then waiting for the other ranks" if self.rank == 0 else "")
                )
        self._check()

    def _sent(self, n: int) -> None:
        with self._lock:
            self.done_bytes += n

    def _run(self, path: Path, files: dict[str, int]) -> None:
        try:
            self._upload(path, files)
        except BaseException as e:  # re-raised on the training thread (start/wait)
            self.error = e

    def _upload(self, path: Path, files: dict[str, int]) -> None:
        bucket, prefix = s3_store.split_url(self.url)
        base = f"{prefix}/{path.name}" if prefix else path.name
        for rel in files:
            self.s3.upload_file(str(path / rel), bucket, f"{base}/{rel}", Callback=self._sent)
        record_key = f"{base}/{RANKS_DIR}/rank_{self.rank}.json"
        self.s3.put_object(Bucket=bucket, Key=record_key, Body=json.dumps(files).encode())
        if self.rank != 0:
            return
        every = self._gather(bucket, base)
        step = int(path.name.removeprefix(s3_store.STEP_PREFIX))
        body = json.dumps({"step": step, "files": every}, indent=1).encode()
        self.s3.put_object(Bucket=bucket, Key=f"{base}/{s3_store.MANIFEST}", Body=body)
        self.say(f"s3: uploaded {path.name} to s3://{bucket}/{base}")
        pruned = s3_retention.prune(self.url, self.keep, self.s3)
        if pruned:
            self.say(f"s3: pruned {', '.join(map(str, pruned))} (checkpoint.keep={self.keep})")
        if self.events is not None:
            self.events.sync(self.s3)

    def _gather(self, bucket: str, base: str) -> dict[str, int]:
        """Every rank's record of the step, once all are there: the manifest's file list."""
        deadline = time.monotonic() + COMMIT_TIMEOUT_S
        keys = {f"{base}/{RANKS_DIR}/rank_{r}.json" for r in range(self.world)}
        while True:
            listed = s3_store.list_objects(self.s3, bucket, f"{base}/{RANKS_DIR}/")
            if keys <= {o["Key"] for o in listed}:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{base}: not every rank uploaded in {COMMIT_TIMEOUT_S} s")
            time.sleep(self.poll_s)
        every: dict[str, int] = {}
        for key in sorted(keys):
            every.update(json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        return dict(sorted(every.items()))
