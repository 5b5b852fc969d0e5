"""Options and error handling shared by the commands that talk to a cluster (doctor, status,
logs, devpod, serve)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ..ops import jobs, kube
from ..ops.job_kinds import KINDS


def add_kubeconfig(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--kubeconfig",
        default=None,
        help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)",
    )


def add_namespace_and_kubeconfig(p: argparse.ArgumentParser) -> None:
    """Where a job, server or dev pod lives: the jobs namespace, and the cluster's kubeconfig."""
    p.add_argument(
        "-n",
        "--namespace",
        default="training",
        help="its namespace (trainstack:jobsNamespace, default training)",
    )
    add_kubeconfig(p)


def add_job(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", help="the training job's name (trainingJobs key)")
    add_namespace_and_kubeconfig(p)


def job_command(args: argparse.Namespace, action: Callable[[Any], int]) -> int:
    """Shared error handling of status/logs: a missing job or kubeconfig is one line, exit 1."""

    def missing(api) -> str:
        what = f"no {' or '.join(k.kind for k in KINDS)} {args.namespace}/{args.job}"
        found = jobs.find_elsewhere(api, args.job)
        hint = (
            "; ".join(f"there is {kind} {ns}/{args.job}: add -n {ns}" for kind, ns in found)
            if found
            else f"kubectl get {','.join(k.plural for k in KINDS)} -A lists them all; a stack "
            "with another trainstack:jobsNamespace needs -n"
        )
        return f"{what} ({hint})"

    return cluster_command(args, action, missing)


def cluster_command(
    args: argparse.Namespace, action: Callable[[Any], int], missing: Callable[[Any], str]
) -> int:
    """Run `action(api_client)`; a missing kubeconfig, an unreachable API server or an API error
    is one line and exit 1, a 404 the line `missing(api_client)` writes."""
    # The kubernetes client takes ~0.3 s to import; only these commands talk to a cluster.
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError

    api = None
    try:
        api = kube.current_api_client(args.kubeconfig)
        return action(api)
    except kube.KubeConfigError as err:
        print(f"trainstack {args.command}: {err}; fix: {err.fix}", file=sys.stderr)
    except ApiException as err:
        if err.status == 404:
            print(f"trainstack {args.command}: {missing(api)}", file=sys.stderr)
        else:
            print(
                f"trainstack {args.command}: Kubernetes API: HTTP {err.status} {err.reason}",
                file=sys.stderr,
            )
    except BrokenPipeError:
        raise  # our stdout closed (`logs | head`), not the API server: main() handles it
    except (HTTPError, OSError) as err:
        print(
            f"trainstack {args.command}: cannot reach the API server: {err} "
            "(`trainstack doctor` explains why)",
            file=sys.stderr,
        )
    return 1
