"""`trainstack crds`: fetch the pinned upstream CRDs into the cache, verified by sha256."""

from __future__ import annotations

import argparse
import sys

from ..offline import crds

HELP = (
    "fetch the pinned upstream CRDs into the cache, verified by "
    "sha256 (the plan validates custom resources against them)"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--check", action="store_true", help="exit 1 when any pinned CRD is missing")


def run(args: argparse.Namespace) -> int:
    found = crds.ensure(
        fetch=True, progress=lambda line: print(f"trainstack crds: {line}", file=sys.stderr)
    )
    for crd in found.available:
        print(f"{crd.kind:<13} {found.directory / crd.file}")
    for why in found.problems:
        print(f"trainstack crds: {why}", file=sys.stderr)
    if not found.complete:
        # Not an error for `make demo`: the plan runs without them and says so.
        kinds = ", ".join(c.kind for c in found.missing)
        print(
            f"trainstack crds: missing {kinds}: the plan will validate these kinds only once "
            f"it has their CRDs ({crds.HOW_TO_PROVIDE})",
            file=sys.stderr,
        )
        return 1 if args.check else 0
    return 0
