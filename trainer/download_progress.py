"""Progress lines for a long download (a model's weights from the hub or S3), in the trainer's log
style: `init-from: <source>: ...` on stdout through logline.emit.

A line when each file starts, a line every `every_s` seconds while bytes arrive, and a summary.
The periodic line measures the bytes on disk under the download directory rather than hooking a
library's progress bars: huggingface_hub writes `.incomplete` files there by plain HTTP or by Xet,
boto3 writes its temporary file beside the target, and neither library's bar interface is ours
to depend on. So the line also counts what an earlier, cut-short attempt left, which is what the
job still does not need to transfer.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from . import logline

PREFIX = "init-from"
EVERY_S = 30.0


def format_bytes(n: float) -> str:
    """1.23 GB, 45.6 MB, 789 B: decimal units, as the hub and S3 consoles show sizes."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)} B"


def bytes_under(root: Path) -> int:
    """The bytes of every file under `root`, hidden ones included (in-progress downloads)."""
    total = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            try:
                total += os.stat(os.path.join(dirpath, name)).st_size
            except FileNotFoundError:  # renamed into place between the listing and the stat
                pass
    return total


class DownloadProgress:
    """Used as a context manager around one download into `watch`; the heartbeat thread runs
    inside it."""

    def __init__(
        self,
        label: str,
        watch: Path,
        *,
        say: Callable[[str], None] = logline.emit,
        every_s: float = EVERY_S,
    ):
        self.label, self.watch, self.say, self.every_s = label, Path(watch), say, every_s
        self.total: int | None = None
        self.count = 0
        self.done = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()

    def line(self, text: str) -> None:
        self.say(f"{PREFIX}: {self.label}: {text}")

    def plan(self, sizes: dict[str, int | None]) -> None:
        """The files about to be fetched, for the `i/n` and the percentage."""
        self.count = len(sizes)
        known = [s for s in sizes.values() if s is not None]
        self.total = sum(known) if len(known) == len(sizes) else None
        size = f", {format_bytes(self.total)}" if self.total is not None else ""
        self.line(f"downloading {self.count} file(s){size} into {self.watch}")

    def file(self, name: str, size: int | None) -> None:
        self.done += 1
        shown = f" ({format_bytes(size)})" if size is not None else ""
        self.line(f"{self.done}/{self.count} {name}{shown}")

    def heartbeat(self, seen: int, rate: float) -> str:
        of = ""
        if self.total:
            of = f" of {format_bytes(self.total)} ({100 * min(seen / self.total, 1):.0f}%)"
        return f"{format_bytes(seen)}{of}, {format_bytes(rate)}/s"

    def _watch(self) -> None:
        last_bytes, last_t = bytes_under(self.watch), time.monotonic()
        while not self._stop.wait(self.every_s):
            seen, now = bytes_under(self.watch), time.monotonic()
            self.line(self.heartbeat(seen, (seen - last_bytes) / max(now - last_t, 1e-9)))
            last_bytes, last_t = seen, now

    def finished(self, dest: Path) -> None:
        took = logline.format_duration(time.monotonic() - self._started)
        self.line(f"{format_bytes(bytes_under(dest))} in {took} -> {dest}")

    def __enter__(self) -> DownloadProgress:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._watch, name="init-from-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
