"""`trainstack doctor`: check that a deployed cluster can run training jobs."""

from __future__ import annotations

import argparse

from .options import add_kubeconfig

HELP = (
    "check a deployed cluster: EKS, node groups, interruption "
    "queue, GPU/EFA nodes, CRDs, operators (exit 1 on a failed check)"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cluster", default=None, help="EKS cluster name (needed when the region has several)"
    )
    p.add_argument("--region", default=None, help="AWS region (default: AWS_REGION / profile)")
    add_kubeconfig(p)


def run(args: argparse.Namespace) -> int:
    from ..ops import doctor  # loads pulumi_aws and botocore through components/

    return doctor.run(cluster=args.cluster, region=args.region, kubeconfig=args.kubeconfig)
