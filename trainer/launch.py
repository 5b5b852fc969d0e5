"""`python -m trainer.launch <torchrun arguments>`: torchrun, exiting with a code that says
whether a restart can help (exit_codes.py).

torchrun itself exits 1 for every failed worker, whatever its code or signal (torch 2.13
torch/distributed/run.py: the agent raises ChildFailedError out of `main`), so a bad config
and a killed rank would look the same to the training operator. Running torchrun's own `run`
in this process keeps its argument parsing, rendezvous and agent unchanged and catches that
error, whose `failures` hold each local rank's real exit code (negative for a signal).
"""

from __future__ import annotations

import sys

from . import exit_codes


def _say(message: str) -> None:
    print(f"trainer.launch: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    # Imported here: `--help` and the tests of exit_codes need no torch.
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    args = torchrun.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        torchrun.run(args)
    except ChildFailedError as e:
        # Root cause first, as torch elastic orders it (get_first_failure), ties by rank.
        failures = e.failures
        ranks = sorted(failures, key=lambda r: (failures[r].timestamp, r))
        codes = [failures[r].exitcode for r in ranks]
        code = exit_codes.pod_code(codes)
        _say(f"workers failed with {dict(zip(ranks, codes))}; exiting {code}")
        return code
    except SignalException as e:
        # torchrun's handler (elastic/multiprocessing/api.py) raises this once it has
        # forwarded the signal to the workers and waited for them (the agent's _shutdown).
        _say(f"stopped by {e.sigval.name}")
        return exit_codes.from_signal(int(e.sigval))
    except Exception as e:  # rendezvous timeouts, a closed store (a lost peer): a restart helps
        _say(f"torchrun failed: {type(e).__name__}: {e}; exiting {exit_codes.EXIT_RETRY}")
        return exit_codes.EXIT_RETRY
    return exit_codes.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
