"""`trainstack queue [--stack S | -n NS] [--json]`: Kueue's queues in the cluster: each
ClusterQueue's quota per flavor and resource, its usage and borrowing, its admitted and pending
counts, and the pending jobs in the order Kueue admits them, each with the reason Kueue gives;
then each LocalQueue with its ClusterQueue and usage."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..project import find_root
from .options import add_kubeconfig, cluster_command

HELP = (
    "Kueue's queues: quota, usage, borrowing, admitted and pending jobs in admission order "
    "with the reason Kueue gives"
)
DEFAULT_JOBS_NAMESPACE = "training"  # components/config/platform.py PlatformConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    scope = p.add_mutually_exclusive_group()
    scope.add_argument(
        "--stack",
        default=None,
        help="only the queues of this stack's jobs namespace (Pulumi.<stack>.yaml "
        "trainstack:jobsNamespace; default: every queue in the cluster)",
    )
    scope.add_argument("-n", "--namespace", default=None, help="only this namespace's queues")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_kubeconfig(p)


def _namespace(args: argparse.Namespace) -> str | None:
    if args.stack is None:
        return args.namespace
    from ..offline.stack_config import load_stack_config

    root = Path(args.project_dir or find_root())
    values = load_stack_config(root, args.stack).values
    return str(values.get("trainstack:jobsNamespace") or DEFAULT_JOBS_NAMESPACE)


def _missing(api) -> str:
    return (
        "Kueue is not installed in this cluster (no kueue.x-k8s.io/v1beta2 ClusterQueues; "
        "`trainstack doctor` checks the operators)"
    )


def run(args: argparse.Namespace) -> int:
    from ..offline.stack_config import StackFileError

    try:
        namespace = _namespace(args)
    except StackFileError as err:
        print(f"trainstack queue: stack '{args.stack}': {err}", file=sys.stderr)
        return 2

    def show(api) -> int:
        from ..ops import queue, queue_view

        report = queue.read(api, namespace)
        if args.json:
            print(json.dumps(report.to_dict(), indent=2))
        else:
            print(queue_view.format_report(report))
        return 0

    return cluster_command(args, show, _missing)
