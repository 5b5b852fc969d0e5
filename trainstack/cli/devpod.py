"""`trainstack devpod connect|start|status`: reach the dev pod, start it again after its idle
stop, see what it is doing.

connect forwards its ssh and Jupyter ports with `kubectl port-forward` (kubectl must be on PATH)
and prints the ssh command and the Jupyter URL with its token, until Ctrl-C."""

from __future__ import annotations

import argparse
import sys

from .options import add_namespace_and_kubeconfig, cluster_command

HELP = "the dev pod: connect (port-forward, ssh and Jupyter addresses), start, status"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    actions = {
        "connect": "forward the ssh and Jupyter ports and print their addresses until Ctrl-C",
        "start": "recreate a dev pod its idle stop ended (Succeeded) or that failed",
        "status": "its phase, node and what the idle watcher saw last",
    }
    for name, text in actions.items():
        a = sub.add_parser(name, help=text, description=text)
        add_namespace_and_kubeconfig(a)
        if name == "connect":
            a.add_argument("--ssh-port", type=int, default=2222, help="local ssh port")
            a.add_argument("--jupyter-port", type=int, default=8888, help="local Jupyter port")


def run(args: argparse.Namespace) -> int:
    # The ops module loads the dev pod renderer (components' config): only for this command.
    from ..ops import devpod

    def action(api) -> int:
        try:
            if args.action == "connect":
                return devpod.connect(
                    api,
                    args.namespace,
                    kubeconfig=args.kubeconfig,
                    ssh_port=args.ssh_port,
                    jupyter_port=args.jupyter_port,
                )
            if args.action == "start":
                return devpod.start(api, args.namespace)
            return devpod.status(api, args.namespace)
        except devpod.DevPodError as err:
            print(f"trainstack devpod {args.action}: {err}", file=sys.stderr)
            return err.code

    return cluster_command(args, action, lambda api: devpod.missing_message(args.namespace))
