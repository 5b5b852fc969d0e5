"""A CRD mirror ($TRAINSTACK_CRD_DIR, CI's) made before the stack pinned a group's CRDs.

Such a mirror holds none of that group's files: it predates the pins, it is not broken. Tests of
that group's kinds skip there, naming the files to add (`trainstack crds` on a machine with
internet, then copy them from its cache); a file the mirror has but with another checksum, or a
group it holds only part of, still fails (tests/conftest.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from trainstack.offline import crds


def lagging_groups() -> frozenset[str]:
    """The pinned groups the mirror in $TRAINSTACK_CRD_DIR has no file of (none without one)."""
    env = os.environ.get(crds.ENV_CRD_DIR)
    if not env:
        return frozenset()
    mirror = Path(env).expanduser()
    groups = {c.group for c in crds.PINNED}
    return frozenset(
        g
        for g in groups
        if not any((mirror / c.file).exists() for c in crds.PINNED if c.group == g)
    )


def skip_reason(groups: frozenset[str] | set[str]) -> str:
    files = [c.file for c in crds.PINNED if c.group in groups]
    return (
        f"{crds.ENV_CRD_DIR} predates the pins of {', '.join(sorted(groups))}: add "
        f"{', '.join(files)} to it (`trainstack crds` fetches and verifies them)"
    )
