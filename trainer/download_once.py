"""A remote directory made local once for every rank of a job: the downloading rank fetches it
into a hidden temporary directory beside its final place, writes a completion marker, and renames
it into place; the other ranks wait at a barrier and then use it.

- The rename is the commit point (one rename(2) of a directory: atomic on a local disk, on NFS,
  EFS and Lustre alike), so a reader never takes a half-written directory for a whole one; the
  marker, written last inside the directory, lists every file with its size, and a directory
  whose files do not match it is not complete (a shard deleted by hand is fetched again).
- A directory complete before the call (a restarted pod, a second run, another job that fetched
  the same model) is used as it is: nothing is downloaded.
- A download cut short (a spot reclaim, a network error that exits the process) leaves the
  temporary directory; the next attempt continues in it, and each fetcher skips or resumes what
  is already there.
- The downloader holds an exclusive flock(2) on a lock file beside the directory while it
  fetches, so two downloaders of the same source on one file system (two jobs starting from the
  same model; every node's local rank 0 when the nodes share the volume) never write into the
  same temporary directory: the second waits, then finds the directory complete. The lock goes
  with its process, so a killed downloader leaves no stale lock. EFS (NFSv4.1) and FSx for
  Lustre mounted with `flock` (components/fsx.py) support it; where flock is refused (ENOLCK,
  EOPNOTSUPP, ENOSYS), the download goes on unlocked with a log line.

Who downloads is the caller's choice (`downloads`): with a volume every node mounts (the stack's
RWX checkpoint volume), global rank 0 alone; with node-local disks, local rank 0 of each node.
Every rank then calls `barrier`, which must be a barrier over every rank whose timeout covers the
download (a gloo group made for transfers, as trainer/s3_sync.py's), and looks for the complete
directory for up to `timeout_s`: a network file system may show another node's rename a moment
late. A directory still missing after that is a misconfiguration (node-local disks treated as
shared), reported as a ConfigError. A downloader that fails raises before the barrier; the
launcher (torchrun) then ends the waiting ranks.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from . import durable
from .config_sections import ConfigError
from .download_progress import DownloadProgress

MARKER = ".init-from-complete.json"
POLL_S = 0.1
# flock refused by the file system: go on without the lock.
_NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)

# fetch(dest, progress) fills `dest` and returns what the marker records beside the file list
# (e.g. the resolved hub commit).
Fetch = Callable[[Path, DownloadProgress], dict]


def temp_dir(final: Path) -> Path:
    return final.with_name(f".tmp-{final.name}")


def lock_path(final: Path) -> Path:
    return final.with_name(f".lock-{final.name}")


def read_marker(final: Path) -> dict | None:
    try:
        return json.loads((final / MARKER).read_text())
    except (OSError, ValueError):
        return None


def is_complete(final: Path) -> bool:
    """The marker is there and every file it lists has its listed size."""
    marker = read_marker(final)
    if marker is None:
        return False
    try:
        return all((final / rel).stat().st_size == size for rel, size in marker["files"].items())
    except (OSError, KeyError, AttributeError):
        return False


def file_sizes(root: Path) -> dict[str, int]:
    """{relative path: size} of every file under `root` but the marker."""
    return {
        p.relative_to(root).as_posix(): p.stat().st_size
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MARKER
    }


@contextlib.contextmanager
def exclusive(path: Path, say: Callable[[str], None]) -> Iterator[None]:
    """flock(LOCK_EX) on `path` for the block; waits while another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        locked = True
        try:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                say(f"waiting for another process downloading it (lock {path})")
                fcntl.flock(f, fcntl.LOCK_EX)
        except OSError as e:
            if e.errno not in _NO_LOCKS:
                raise
            say(f"no file lock on this file system ({e.strerror}); downloading unlocked")
            locked = False
        try:
            yield
        finally:
            if locked:
                fcntl.flock(f, fcntl.LOCK_UN)


def publish(final: Path, fetch: Fetch, progress: DownloadProgress) -> None:
    """The downloader's part: lock, fetch into the temporary directory, mark, rename."""
    with exclusive(lock_path(final), progress.line):
        if is_complete(final):  # another downloader finished while this one waited
            return
        if final.exists():  # not ours (the protocol never leaves one incomplete): replace it
            progress.line(f"{final} is incomplete (no marker or a file changed); fetching again")
            shutil.rmtree(final)
        tmp = temp_dir(final)
        if tmp.exists():
            progress.line(f"continuing the download left in {tmp}")
        tmp.mkdir(parents=True, exist_ok=True)
        with progress:
            extra = fetch(tmp, progress)
        marker = {**extra, "source": progress.label, "files": file_sizes(tmp)}
        durable.write_json(tmp / MARKER, marker, indent=1, sort_keys=True)
        durable.publish(tmp, final)  # the rename is the commit point
        progress.finished(final)


def wait_complete(final: Path, timeout_s: float, label: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not is_complete(final):
        if time.monotonic() >= deadline:
            raise ConfigError(
                [
                    f"model.init_from={label}: {final} is not complete on this rank after the "
                    f"download (waited {timeout_s:g} s): the cache directory must be one file "
                    "system for every rank that skips the download (the job's shared volume), "
                    "or each node must download its own copy"
                ]
            )
        time.sleep(POLL_S)


def materialize_once(
    final: Path,
    fetch: Fetch,
    *,
    label: str,
    downloads: bool,
    barrier: Callable[[], None],
    timeout_s: float,
    progress: DownloadProgress | None = None,
) -> Path:
    """Every rank calls this with the same `final`; returns it once complete on this rank."""
    final = Path(final)
    if downloads:
        progress = progress or DownloadProgress(label, temp_dir(final))
        if is_complete(final):
            progress.line(f"using {final} (downloaded before)")
        else:
            publish(final, fetch, progress)
    barrier()
    wait_complete(final, timeout_s, label)
    return final
