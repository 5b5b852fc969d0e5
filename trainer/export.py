"""`python -m trainer.export CHECKPOINT OUT`: a sharded checkpoint as a Hugging Face model.

CHECKPOINT is one `step_*` directory or a checkpoint root (its newest complete checkpoint is used).
OUT becomes a directory that transformers' from_pretrained and vLLM load (trainer/hf_export.py).
Runs in one process without a process group, whatever number of ranks wrote the checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import checkpoint, hf_export, hf_safetensors
from .config_sections import ConfigError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainer.export", description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("out", type=Path, help="the model directory to write (replaced whole)")
    p.add_argument(
        "--dtype",
        choices=list(hf_export.DTYPES),
        default="bfloat16",
        help="dtype of the written weights (default: bfloat16; the checkpoint's are float32)",
    )
    p.add_argument(
        "--max-shard-bytes",
        type=int,
        default=hf_safetensors.MAX_SHARD_BYTES,
        help="split the weights into files of at most this size, with an index (default: 5 GB)",
    )
    args = p.parse_args(argv)
    path = args.checkpoint
    if not (path / checkpoint.STATE_FILE).is_file():
        found = checkpoint.latest(path)
        if found is None:
            print(f"export: no complete checkpoint in {path}", file=sys.stderr)
            return 2
        path = found[1]
    try:
        out = hf_export.export_from_checkpoint(path, args.out, args.dtype, args.max_shard_bytes)
    except ConfigError as e:
        for issue in e.issues:
            print(f"export: {issue}", file=sys.stderr)
        return 2
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"export: {path} -> {out}/ ({size / 2**20:.1f} MiB, {len(list(out.iterdir()))} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
