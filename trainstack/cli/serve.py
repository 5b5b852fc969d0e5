"""`trainstack serve connect <name>`: reach a served model (`servingJobs`).

connect forwards the server's port with `kubectl port-forward` (kubectl must be on PATH) and
prints a `curl` of `/v1/completions` with the served model's name, until Ctrl-C."""

from __future__ import annotations

import argparse
import sys

from .options import add_namespace_and_kubeconfig

HELP = "a served model: connect (port-forward, and a curl of /v1/completions to try it)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    text = "forward the server's port and print a curl of /v1/completions until Ctrl-C"
    a = sub.add_parser("connect", help=text, description=text)
    a.add_argument("name", help="the served model's name (servingJobs key)")
    add_namespace_and_kubeconfig(a)
    a.add_argument("--port", type=int, default=8000, help="local port (default 8000)")


def run(args: argparse.Namespace) -> int:
    # The ops module loads the serving renderer (components' config): only for this command.
    from ..ops import serve

    try:
        return serve.connect(
            args.name, args.namespace, kubeconfig=args.kubeconfig, local_port=args.port
        )
    except serve.ServeError as err:
        print(f"trainstack serve {args.action}: {err}", file=sys.stderr)
        return err.code
