"""`python -m trainer.launch [--backoff-limit N --checkpoint-dir DIR] <torchrun arguments>`:
torchrun, exiting with a code that says whether a restart can help (exit_codes.py).

torchrun itself exits 1 for every failed worker, whatever its code or signal (torch 2.13
torch/distributed/run.py: the agent raises ChildFailedError out of `main`), so a bad config
and a killed rank would look the same to the training operator. Running torchrun's own `run`
in this process keeps its argument parsing, rendezvous and agent unchanged and catches that
error, whose `failures` hold each local rank's real exit code (negative for a signal).

With `--backoff-limit` and the trainer's `--checkpoint-dir`, a pod that keeps failing without a
new checkpoint exits EXIT_CRASH_LOOP (permanent) instead of being recreated forever
(crash_loop.py). These options come first, before torchrun's own.
"""

from __future__ import annotations

import argparse
import sys

from . import exit_codes

OWN_OPTIONS = ("--backoff-limit", "--checkpoint-dir")


def _say(message: str) -> None:
    print(f"trainer.launch: {message}", file=sys.stderr, flush=True)


def split_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The launcher's own leading options, and the rest for torchrun. Only a leading run of
    them is taken, so the trainer's arguments after the script are never looked at. A bad one
    exits 2 (argparse), which is EXIT_CONFIG: the same command would fail again."""
    n = 0
    while n < len(argv) and argv[n].split("=", 1)[0] in OWN_OPTIONS:
        n += 1 if "=" in argv[n] else 2
    p = argparse.ArgumentParser(prog="python -m trainer.launch", allow_abbrev=False)
    p.add_argument("--backoff-limit", type=int, help="the job's backoffLimit (restarts)")
    p.add_argument("--checkpoint-dir", help="the trainer's checkpoint.dir, on a shared volume")
    own = p.parse_args(argv[:n])
    if (own.backoff_limit is None) != (own.checkpoint_dir is None):
        p.error("--backoff-limit and --checkpoint-dir go together")
    if own.backoff_limit is not None and own.backoff_limit < 0:
        p.error(f"--backoff-limit {own.backoff_limit}: 0 or more")
    return own, argv[n:]


def run_torchrun(args) -> tuple[int, bool]:
    """torchrun's outcome as (pod exit code, whether it is a failure of this pod's own), not a
    signal to the pod, which is how Kubernetes stops it (deletion, drain, eviction)."""
    # Imported here: `--help` and the tests of exit_codes need no torch.
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    try:
        torchrun.run(args)
    except ChildFailedError as e:
        # Root cause first, as torch elastic orders it (get_first_failure), ties by rank.
        failures = e.failures
        ranks = sorted(failures, key=lambda r: (failures[r].timestamp, r))
        codes = [failures[r].exitcode for r in ranks]
        code = exit_codes.pod_code(codes)
        _say(f"workers failed with {dict(zip(ranks, codes))}; exiting {code}")
        return code, True
    except SignalException as e:
        # torchrun's handler (elastic/multiprocessing/api.py) raises this once it has
        # forwarded the signal to the workers and waited for them (the agent's _shutdown).
        _say(f"stopped by {e.sigval.name}")
        return exit_codes.from_signal(int(e.sigval)), False
    except Exception as e:  # rendezvous timeouts, a closed store (a lost peer): a restart helps
        _say(f"torchrun failed: {type(e).__name__}: {e}; exiting {exit_codes.EXIT_RETRY}")
        return exit_codes.EXIT_RETRY, True
    return exit_codes.EXIT_OK, False


def main(argv: list[str] | None = None) -> int:
    from torch.distributed import run as torchrun

    own, rest = split_args(sys.argv[1:] if argv is None else argv)
    code, own_failure = run_torchrun(torchrun.parse_args(rest))
    if own.checkpoint_dir is None:
        return code
    from . import crash_loop  # reads checkpoints: torch

    if code == exit_codes.EXIT_OK:
        crash_loop.clear(own.checkpoint_dir)
    elif own_failure and code not in exit_codes.PERMANENT:
        # Never on a signal to the pod: a pod being deleted that exits 1-127 could be seen as
        # Failed with that code and fail the job (the operator reads the container's exit code).
        return crash_loop.after_failure(own.checkpoint_dir, code, own.backoff_limit)
    return code


if __name__ == "__main__":
    sys.exit(main())
