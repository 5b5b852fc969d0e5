"""Making a write survive a crash: what a rename-to-publish protocol (checkpoint.py, hf_export.py,
download_once.py) flushes before and after its rename."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: str | Path) -> None:
    """A file's data, or a directory's entries (the names of what was created or renamed in it),
    to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
