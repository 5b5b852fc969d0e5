"""The `trainstack` command: offline plan of a stack, the trainer image's preflight, checks of a
deployed cluster (doctor), a training job's status and logs, Kueue's queues, the dev pod, a
pool's network check, a served model, and a stack's cost.

One module per command, each with `HELP`, `add_arguments(parser)` and `run(args)`; this module
only builds the parser from them and handles what every command shares (project lookup, a closed
pipe)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..project import ProjectNotFound, package_version
from . import (
    cost,
    crds,
    devpod,
    diagnose,
    doctor,
    logs,
    netcheck,
    plan,
    preflight,
    queue,
    serve,
    status,
)

# The exit status a shell reports for a process killed by SIGPIPE (128 + 13), which is what
# `cat`, `grep` and the like end with when the reader of their output goes away first.
EXIT_BROKEN_PIPE = 141

# In the order `trainstack --help` lists them.
COMMANDS = {
    "plan": plan,
    "crds": crds,
    "preflight": preflight,
    "doctor": doctor,
    "status": status,
    "queue": queue,
    "logs": logs,
    "diagnose": diagnose,
    "devpod": devpod,
    "netcheck": netcheck,
    "serve": serve,
    "cost": cost,
}


def build_parser() -> argparse.ArgumentParser:
    # Each command's options are declared by the module that reads them, so --help lists them
    # all.
    parser = argparse.ArgumentParser(prog="trainstack", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=None,
        help="the folder holding Pulumi.yaml (default: found from here)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__.split("\n\n")[0])
        module.add_arguments(p)
        p.set_defaults(func=module.run)
    return parser


def _run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ProjectNotFound as err:
        print(f"trainstack {args.command}: {err}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            return _run(argv)
        finally:
            # Flushed here, inside the handler, rather than at interpreter exit, where a closed
            # pipe could only be reported as "Exception ignored ...".
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader of our output went away (`trainstack cost | head -1`). The recipe of the
        # Python docs (library/signal.html, "Note on SIGPIPE"): point stdout at devnull so the
        # final flush at exit cannot fail again, and end without a traceback. The status is the
        # shell's for a SIGPIPE death rather than 0 or 1: the command did not finish its output
        # (`logs -f` did not even finish its work), and 0/1/2 already mean success, "found a
        # problem" and a usage error; under `set -o pipefail` it fails as `yes | head -1` does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
