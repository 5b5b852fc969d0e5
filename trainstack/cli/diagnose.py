"""`trainstack diagnose`: name the cause of a failure from saved kubectl output, no cluster
needed."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from jobwatch.diagnose import classify, format_causes

HELP = (
    "name the cause of a failure from saved `kubectl get "
    "pods/events -o json` and log output, no cluster needed"
)


def _items(path: str | None) -> list[dict[str, Any]]:
    """Objects from `kubectl get ... -o json` output: a List's items, or one object."""
    if not path:
        return []
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        return data["items"]
    return data if isinstance(data, list) else [data]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pods",
        help="`kubectl get pods -n training -l "
        "training.kubeflow.org/job-name=<job> -o json` saved to a file",
    )
    parser.add_argument("--events", help="`kubectl get events -n training -o json` saved")
    parser.add_argument("--log", help="`kubectl logs ... --tail 200` saved ('-': stdin)")
    parser.add_argument(
        "--nodes",
        help="`kubectl get nodes -o json` saved: the pods' node conditions (a pod's node "
        "missing from it is taken as gone)",
    )
    parser.add_argument(
        "--efa",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="whether the job should use EFA (default: from the pods)",
    )
    parser.add_argument("--json", action="store_true", help="print the causes as JSON")


NEEDS_INPUT = (
    "nothing to read: give --pods FILE, --events FILE and/or --log FILE (--log - reads "
    "stdin), saved from kubectl as their help says"
)


def run(args: argparse.Namespace) -> int:
    """`trainstack diagnose` with parsed arguments.

    Exit 0 when no known cause is found, 1 when some are (so scripts can branch on it), 2 when
    there is nothing to read or an input cannot be read.
    """
    if not (args.pods or args.events or args.log):
        # With no input every classifier finds nothing, and "no known cause" would be a lie.
        print(f"trainstack diagnose: {NEEDS_INPUT}", file=sys.stderr)
        return 2
    try:
        pods, events = _items(args.pods), _items(args.events)
        nodes = _items(args.nodes) if args.nodes else None
        if args.log == "-":
            log = sys.stdin.read()
        elif args.log:
            with open(args.log, encoding="utf-8", errors="replace") as f:
                log = f.read()
        else:
            log = ""
    except (OSError, ValueError) as err:
        print(f"trainstack diagnose: {err}", file=sys.stderr)
        return 2
    causes = classify(pods, events, log, efa_expected=args.efa, nodes=nodes)
    if args.json:
        print(json.dumps([c.to_dict() for c in causes], indent=2))
    else:
        print(format_causes(causes))
    return 1 if causes else 0


def main(argv: list[str] | None = None) -> int:
    """`trainstack diagnose --pods P --events E --log L [--json]` on saved kubectl output."""
    parser = argparse.ArgumentParser(
        prog="trainstack diagnose", description=__doc__.split("\n\n")[0]
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
