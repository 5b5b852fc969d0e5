"""`python -m trainer.export CHECKPOINT OUT`: consolidated weights from a sharded checkpoint.

CHECKPOINT is one `step_*` directory or a checkpoint root (its newest complete checkpoint is used).
Runs in one process without a process group, whatever number of ranks wrote the checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import checkpoint


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainer.export", description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("out", type=Path)
    args = p.parse_args(argv)
    path = args.checkpoint
    if not (path / checkpoint.STATE_FILE).is_file():
        found = checkpoint.latest(path)
        if found is None:
            print(f"export: no complete checkpoint in {path}", file=sys.stderr)
            return 2
        path = found[1]
    out = checkpoint.export_from_checkpoint(path, args.out)
    print(f"export: {path} -> {out} ({out.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
