"""Making a write survive a crash: what a rename-to-publish protocol (checkpoint.py, hf_export.py,
download_once.py) flushes before and after its rename."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def fsync_path(path: str | Path) -> None:
    """A file's data, or a directory's entries (the names of what was created or renamed in it),
    to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: str | Path, value: Any, **dump_options) -> None:
    """`value` as JSON at `path`, its bytes on disk before this returns (a marker or state file
    that a rename will publish must not be published empty)."""
    with open(path, "w") as f:
        json.dump(value, f, **dump_options)
        f.flush()
        os.fsync(f.fileno())


def publish(tmp: Path, final: Path) -> None:
    """Make a complete hidden directory visible under its final name: its entries reach disk,
    then the rename (the commit point), then the parent's entry."""
    fsync_path(tmp)
    os.rename(tmp, final)
    fsync_path(final.parent)
