"""Self-test of a training image: `python -m trainer.selftest --level quick|standard|full`.

The image build runs it inside the freshly built image before pushing. Build hosts have no GPU, so
a CPU-only environment passes unless `--expect-cuda` asks for a CUDA build of torch with NCCL.
Jobs on EFA pools run it (`--level quick --expect-efa`) before torchrun: the `efa` check fails
unless NCCL would run over EFA (trainer/efa.py), so such a job stops at start with the reason
instead of training over TCP sockets. There it runs with `--node-check`: a failure is taken
for this node's and exits a retryable code (node_check.py), so the pod is recreated.

- quick: imports, versions, the `tiny` model built on meta, materialised and initialised;
- standard: + forward/backward on the device and one FSDP2 step through the trainer's own path
  in a one-rank process group (bf16 mixed precision on CUDA);
- full: + a checkpoint save/load round trip and a short `train.run`, both in temporary dirs.

The JSON report goes to stdout (and --out), one line per check to stderr; exit 0 if all passed.
A failed check does not stop the others; the checks that need it are reported as skipped.
Only the standard library is imported up front, so a broken torch is reported, not a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

# The checks and their runner live in their own modules; tests and the image component reach
# them through this one.
from . import node_check
from .exit_codes import exit_process
from .selftest_checks import CHECKS, LIBRARIES  # noqa: F401
from .selftest_runner import (  # noqa: F401
    LEVELS,
    PACKAGES,
    Check,
    CheckFailed,
    environment,
    require,
    run_checks,
)


@contextlib.contextmanager
def _stdout_to_stderr():
    """Keep stdout for the report: the trainer's progress lines (and anything native code prints
    to file descriptor 1, e.g. NCCL_DEBUG) go to stderr while the checks run."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 1)
        os.close(saved)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m trainer.selftest", description=__doc__.split("\n")[0], allow_abbrev=False
    )
    p.add_argument("--level", choices=LEVELS, default="standard")
    p.add_argument("--out", help="also write the JSON report here")
    p.add_argument(
        "--expect-cuda",
        action="store_true",
        help="fail unless torch is a CUDA build with NCCL (a GPU need not be present)",
    )
    p.add_argument(
        "--expect-efa",
        action="store_true",
        help="fail unless NCCL would use EFA: libfabric's efa provider, the "
        "aws-ofi-nccl net plugin and the CUDA runtime it loads",
    )
    p.add_argument(
        "--node-check",
        action="store_true",
        help="run at pod start on the node that will train: a failure exits 201 (retryable: "
        "the pod is recreated, maybe elsewhere) instead of 1",
    )
    p.add_argument("--backoff-limit", type=int, help="with --node-check: trainer.launch's")
    p.add_argument("--checkpoint-dir", help="with --node-check: trainer.launch's")
    args = p.parse_args(argv)
    if (args.backoff_limit is None) != (args.checkpoint_dir is None) or (
        args.checkpoint_dir is not None and not args.node_check
    ):
        p.error("--backoff-limit and --checkpoint-dir go together, with --node-check")

    ctx: dict = {"expect_cuda": args.expect_cuda, "expect_efa": args.expect_efa}
    checks = [c for c in CHECKS if LEVELS.index(c.level) <= LEVELS.index(args.level)]
    with _stdout_to_stderr():
        try:
            results = run_checks(checks, ctx)
        finally:
            if "dist" in ctx:
                from trainer import distributed

                distributed.shutdown()
    report = {
        "ok": all(r["ok"] for r in results),
        "level": args.level,
        "expect_cuda": args.expect_cuda,
        "expect_efa": args.expect_efa,
        "environment": environment(),
        "checks": results,
    }
    text = json.dumps(report, indent=1)
    print(text, flush=True)
    if args.out:
        Path(args.out).write_text(text + "\n")
    failed = [r["name"] for r in results if not r["ok"]]
    print(
        f"selftest {args.level}: "
        + (f"FAILED: {', '.join(failed)}" if failed else f"all {len(results)} checks passed"),
        file=sys.stderr,
    )
    if failed and args.node_check:
        return node_check.failure_code(failed, args.backoff_limit, args.checkpoint_dir)
    return 1 if failed else 0


if __name__ == "__main__":
    exit_process(main())
