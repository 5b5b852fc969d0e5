"""`trainstack netcheck --stack S --pool P --nodes N`: prove a GPU pool's network before a long
run. A short PyTorchJob of the stack's trainer image (trainer.netcheck under torchrun, the same
pod spec, EFA and NCCL settings as a training job) measures all-reduce and all-gather bus
bandwidth, reads which transport NCCL used, and gives a verdict.

Exit codes: 0 passed, 5 the network failed the check (sockets where EFA was expected, or bandwidth
under the stated share of the instance's), 1 the check could not run (with why), 2 a request the
stack cannot run. --dry-run prints the manifests instead, validated, with no cluster."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from ..project import find_root
from .options import add_kubeconfig, cluster_command

HELP = "run the network check (bus bandwidth, NCCL transport, verdict) on a GPU pool's nodes"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", default="dev", help="stack name (Pulumi.<stack>.yaml)")
    p.add_argument("--pool", required=True, help="the GPU pool (node group or NodePool) to check")
    p.add_argument("--nodes", type=int, default=2, help="whole nodes to run on (default 2)")
    p.add_argument(
        "--image",
        default=None,
        help="the trainer image by digest (default: read from one of the stack's PyTorchJobs "
        "in the cluster; `pulumi stack output trainerImage` prints it)",
    )
    p.add_argument(
        "--volume",
        default=None,
        help="the volume the pods mount (default: the checkpoint volume of the pool's jobs)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the manifests as YAML, validated against the pinned schemas; no cluster",
    )
    add_kubeconfig(p)


def _config(args: argparse.Namespace):
    from components.config import platform as platform_config

    from ..offline.stack_config import load_stack_config

    root = Path(args.project_dir or find_root())
    return platform_config.parse_pulumi_config(load_stack_config(root, args.stack).config)


def _validate(manifests: list[dict]) -> int:
    """Schema errors on stderr (exit 1); kinds without their pinned CRD are named, not failed."""
    from ..offline import crds, schemas

    found = crds.ensure(fetch=False)
    errors: list[str] = []
    unchecked: list[str] = []
    for m in manifests:
        group = m["apiVersion"].rpartition("/")[0]
        if group and found.is_missing(group, m["kind"]):
            unchecked.append(m["kind"])
            continue
        try:
            errors += schemas.validate_object(m, "1.34")
        except schemas.SchemaUnavailable:
            unchecked.append(m["kind"])
    if unchecked:
        print(f"trainstack netcheck: {found.notice(sorted(set(unchecked)))}", file=sys.stderr)
    for e in errors:
        print(f"trainstack netcheck: invalid: {e}", file=sys.stderr)
    return 1 if errors else 0


def run(args: argparse.Namespace) -> int:
    # The stack loader and the renderers load pulumi (~0.5 s): only for this command.
    from components.config import ConfigError

    from ..offline.stack_config import StackFileError
    from ..ops import netcheck_plan

    try:
        cfg = _config(args)
        image = args.image or netcheck_plan.PLACEHOLDER_IMAGE
        plan = netcheck_plan.plan(cfg, args.pool, args.nodes, image, args.volume)
    except (ConfigError, StackFileError, netcheck_plan.PlanError) as err:
        print(f"trainstack netcheck: stack '{args.stack}': {err}", file=sys.stderr)
        return 2
    print(
        f"trainstack netcheck: {plan.name} on {plan.nodes} node(s) of pool {plan.pool} in "
        f"{plan.namespace}; volume {plan.volume} ({plan.volume_reason})",
        file=sys.stderr,
    )
    if args.dry_run:
        if not args.image:
            print(
                "trainstack netcheck: image: a placeholder (give --image for the real one)",
                file=sys.stderr,
            )
        print(yaml.safe_dump_all(plan.manifests, sort_keys=False), end="")
        return _validate(plan.manifests)
    return cluster_command(args, lambda api: _run_in_cluster(api, args, cfg, plan), _missing)


def _missing(api) -> str:
    return "the PyTorchJob kind is unknown to this cluster (is the training operator installed?)"


def _run_in_cluster(api, args: argparse.Namespace, cfg, plan) -> int:
    from components import netcheck_job

    from ..ops import netcheck, netcheck_plan

    try:
        if not args.image:
            own = {n for n, j in cfg.training_jobs.items() if j.image is None}
            image = netcheck.stack_image(api, plan.namespace, own)
            print(f"trainstack netcheck: image {image} (from the stack's jobs)", file=sys.stderr)
            plan = netcheck_plan.plan(cfg, args.pool, args.nodes, image, args.volume)
        netcheck.launch(api, plan, sys.stderr)
        return netcheck.wait_and_report(
            api, plan, timeout_s=netcheck_job.DEADLINE_S + netcheck.DEADLINE_GRACE_S
        )
    except netcheck.NetcheckError as err:
        print(f"trainstack netcheck: {err}", file=sys.stderr)
        return netcheck.EXIT_COULD_NOT_RUN
