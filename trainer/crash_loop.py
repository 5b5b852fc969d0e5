"""The job's `backoffLimit` under restartPolicy ExitCode, kept by trainer.launch itself.

The training operator v1.9.3 recreates a pod that exits 128-255 without counting it: its
PastBackoffLimit (pkg/core/job.go) adds up container restartCounts, and the pods it recreates run
with restartPolicy Never, so theirs stay 0 (kubeflow/trainer#2045). A failure that recurs would
restart until activeDeadlineSeconds. So after each retryable failure the launcher records, on the
shared checkpoint volume, the newest complete checkpoint step (checkpoint.latest, the step a
restart resumes from). A failure at the same step as this pod's previous one adds one; a newer
step means the run made progress and the count starts again at one, so a node lost every few
hours never ends a long run. Once the count exceeds the limit the launcher exits EXIT_CRASH_LOOP,
which the operator treats as permanent.

One file per pod, `<checkpoint dir>/.restarts/<pod name>.json`: the operator recreates a pod
under the same name (pkg/controller.v1/common/util.go GenGeneralName), which is the container's
hostname. When several pods fail in the same incident each counts it once in its own file, so no
two writers share a file, and each write is a rename (a reader sees the old or the new record).
The price: pods that fail in turn, each alone, each count only their own failures, so such a
loop can run about (pods x limit) restarts before one of them stops it.

Stale state: a successful run or a crash-loop exit removes the directory; a job deleted during a
loop leaves its counts, which a new job of the same name (same directory) inherits until its
first new checkpoint resets them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import checkpoint, exit_codes

STATE_DIR = ".restarts"  # hidden: checkpoint.complete() only reads step_NNNNNNNN directories


@dataclass
class Record:
    """This pod's failures since the newest checkpoint last changed."""

    step: int | None  # the newest complete checkpoint at those failures (None: none yet)
    codes: list[int] = field(default_factory=list)  # their exit codes, oldest first
    updated: float = 0.0  # time.time() of the last one


def _say(message: str) -> None:
    print(f"trainer.launch: {message}", file=sys.stderr, flush=True)


def state_path(ckpt_dir: str | Path, pod: str | None = None) -> Path:
    return Path(ckpt_dir) / STATE_DIR / f"{pod or socket.gethostname()}.json"


def read(path: Path) -> Record | None:
    """The record, or None when there is none or it cannot be read: a torn or foreign file
    counts as no failures yet, never as a reason to crash the launcher."""
    try:
        data = json.loads(path.read_text())
        step = data["step"]
        if step is not None and not isinstance(step, int):
            raise ValueError(f"step {step!r}")
        return Record(step, [int(c) for c in data["codes"]], float(data.get("updated", 0)))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError) as e:
        _say(f"ignoring unreadable {path} ({type(e).__name__}: {e}); counting from zero")
        return None


def write(path: Path, record: Record) -> None:
    """Atomically: a temporary file in the same directory, fsynced, renamed over the old."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(asdict(record), f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def newest_step(ckpt_dir: str | Path) -> int | None:
    found = checkpoint.latest(ckpt_dir)
    return found[0] if found else None


def clear(ckpt_dir: str | Path) -> None:
    """Forget every pod's count: the run ended (done, or stopped as a crash loop)."""
    shutil.rmtree(Path(ckpt_dir) / STATE_DIR, ignore_errors=True)


def after_failure(ckpt_dir: str | Path, code: int, limit: int, pod: str | None = None) -> int:
    """The exit code for a retryable failure `code` of this pod with backoffLimit `limit`:
    `code` itself, or EXIT_CRASH_LOOP once this is the (limit + 1)-th failure in a row without
    a new checkpoint. If the state cannot be written the failure stays retryable (said once):
    losing the limit is better than failing a run over bookkeeping."""
    path = state_path(ckpt_dir, pod)
    try:
        step = newest_step(ckpt_dir)
    except OSError as e:
        _say(f"cannot read {ckpt_dir} ({e}); backoffLimit is not enforced")
        return code
    prev = read(path)
    codes = [code] if prev is None or prev.step != step else [*prev.codes, code]
    at = "no checkpoint yet" if step is None else f"newest checkpoint step {step}"
    if len(codes) > limit:
        _say(
            f"{len(codes)} failures in a row without a new checkpoint ({at}), exit codes "
            f"{', '.join(map(str, codes))}: above backoffLimit {limit}; exiting "
            f"{exit_codes.EXIT_CRASH_LOOP} so the job stops instead of restarting"
        )
        clear(ckpt_dir)
        return exit_codes.EXIT_CRASH_LOOP
    try:
        write(path, Record(step, codes, time.time()))
    except OSError as e:
        _say(f"cannot record the failure in {path} ({e}); backoffLimit is not enforced")
        return code
    _say(
        f"failure {len(codes)} in a row without a new checkpoint ({at}); the job stops at "
        f"{limit + 1} (backoffLimit {limit})"
    )
    return code
