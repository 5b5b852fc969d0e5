"""The `trainstack` command: offline plan of a stack, the trainer image's preflight, checks of a
deployed cluster (doctor), a training job's status and logs, and a stack's cost."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from imagebuild import preflight

from . import cost, crds, diagnose, jobs, kube
from .project import ProjectNotFound, find_root, package_version

# The exit status a shell reports for a process killed by SIGPIPE (128 + 13), which is what
# `cat`, `grep` and the like end with when the reader of their output goes away first.
EXIT_BROKEN_PIPE = 141


def cmd_plan(args: argparse.Namespace) -> int:
    # Imported here, not above: the plan loads pulumi, the providers and botocore (~0.5 s), which
    # no other command needs.
    from components.config import ConfigError

    from . import plan
    from .offline.stack_config import StackFileError

    root = args.project_dir or find_root()
    # Fetched here first so that the download of the pinned CRDs shows progress; run() then
    # finds them cached (or, offline, names what it could not check).
    crds.ensure(
        fetch=True, progress=lambda line: print(f"trainstack plan: {line}", file=sys.stderr)
    )
    try:
        result = plan.run(root, args.stack, out_root=root / args.out)
    except (ConfigError, StackFileError) as err:
        print(f"trainstack plan: stack '{args.stack}': {err}", file=sys.stderr)
        return 2
    print(plan.summary(result))
    # A mandatory policy violation fails the plan as it would fail `pulumi preview --policy-pack`.
    # So does an input AWS would reject (aws_rules).
    return (
        1 if (result.schema_errors or result.mandatory_violations or result.aws_violations) else 0
    )


def cmd_crds(args: argparse.Namespace) -> int:
    found = crds.ensure(
        fetch=True, progress=lambda line: print(f"trainstack crds: {line}", file=sys.stderr)
    )
    for crd in found.available:
        print(f"{crd.kind:<13} {found.directory / crd.file}")
    for why in found.problems:
        print(f"trainstack crds: {why}", file=sys.stderr)
    if not found.complete:
        # Not an error for `make demo`: the plan runs without them and says so.
        kinds = ", ".join(c.kind for c in found.missing)
        print(
            f"trainstack crds: missing {kinds}: the plan will validate these kinds only once "
            f"it has their CRDs ({crds.HOW_TO_PROVIDE})",
            file=sys.stderr,
        )
        return 1 if args.check else 0
    return 0


def cmd_preflight(args: argparse.Namespace) -> int:
    # The build context (and default paths): --project-dir, else the project found from here,
    # as plan and cost find it. Paths given on the command line stay relative to the current
    # directory, as for any command.
    return preflight.run(args, root=args.project_dir or find_root())


def cmd_doctor(args: argparse.Namespace) -> int:
    from . import doctor  # loads pulumi_aws and botocore through components/

    return doctor.run(cluster=args.cluster, region=args.region, kubeconfig=args.kubeconfig)


def _job_command(args: argparse.Namespace, action) -> int:
    """Shared error handling of status/logs: a missing job or kubeconfig is one line, exit 1."""
    # The kubernetes client takes ~0.3 s to import; only status and logs talk to a cluster.
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
            missing = f"no PyTorchJob or RayJob {args.namespace}/{args.job}"
            found = jobs.find_elsewhere(api, args.job)
            hint = (
                "; ".join(f"there is {kind} {ns}/{args.job}: add -n {ns}" for kind, ns in found)
                if found
                else "kubectl get pytorchjobs,rayjobs -A lists them all; a stack with another "
                "trainstack:jobsNamespace needs -n"
            )
            print(f"trainstack {args.command}: {missing} ({hint})", file=sys.stderr)
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


def cmd_status(args: argparse.Namespace) -> int:
    return _job_command(args, lambda api: jobs.status(api, args.job, args.namespace))


def cmd_logs(args: argparse.Namespace) -> int:
    return _job_command(
        args, lambda api: jobs.stream_logs(api, args.job, args.namespace, args.follow)
    )


def cmd_diagnose(args: argparse.Namespace) -> int:
    return diagnose.run(args)


def cmd_cost(args: argparse.Namespace) -> int:
    return cost.run(args, args.project_dir or find_root())


def _cluster_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--kubeconfig",
        default=None,
        help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)",
    )


def _job_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", help="the training job's name (trainingJobs key)")
    p.add_argument(
        "-n",
        "--namespace",
        default="training",
        help="its namespace (trainstack:jobsNamespace, default training)",
    )
    _cluster_args(p)


def build_parser() -> argparse.ArgumentParser:
    # Each command's options are declared by the module that reads them, so --help lists them
    # all.
    parser = argparse.ArgumentParser(prog="trainstack", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=None,
        help="the folder holding Pulumi.yaml (default: found from here)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan", help="evaluate a stack offline and write build/plan/<stack>/")
    p.add_argument("--stack", default="dev", help="stack name (Pulumi.<stack>.yaml)")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("build/plan"),
        help="output folder, relative to the project (default build/plan)",
    )
    p.set_defaults(func=cmd_plan)
    p = sub.add_parser(
        "crds",
        help="fetch the pinned upstream CRDs into the cache, verified by "
        "sha256 (the plan validates custom resources against them)",
    )
    p.add_argument("--check", action="store_true", help="exit 1 when any pinned CRD is missing")
    p.set_defaults(func=cmd_crds)
    p = sub.add_parser(
        "preflight",
        help="check the trainer image's Dockerfile and requirements "
        "for torch/CUDA/driver/Python conflicts (exit 1 on an error)",
    )
    preflight.add_arguments(p)
    p.set_defaults(func=cmd_preflight)
    p = sub.add_parser(
        "doctor",
        help="check a deployed cluster: EKS, node groups, interruption "
        "queue, GPU/EFA nodes, CRDs, operators (exit 1 on a failed check)",
    )
    p.add_argument(
        "--cluster", default=None, help="EKS cluster name (needed when the region has several)"
    )
    p.add_argument("--region", default=None, help="AWS region (default: AWS_REGION / profile)")
    _cluster_args(p)
    p.set_defaults(func=cmd_doctor)
    p = sub.add_parser(
        "status",
        help="a PyTorchJob's or RayJob's state, pods, newest "
        "checkpoint and, when something is wrong, the likely causes (exit 1 if "
        "it failed)",
    )
    _job_args(p)
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("logs", help="rank 0's log; a progress bar for step lines on a terminal")
    _job_args(p)
    p.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="stream until the job ends, across container restarts (exit 1 if the job failed)",
    )
    p.set_defaults(func=cmd_logs)
    p = sub.add_parser(
        "diagnose",
        help="name the cause of a failure from saved `kubectl get "
        "pods/events -o json` and log output, no cluster needed",
        description=diagnose.__doc__.splitlines()[0],
    )
    diagnose.add_arguments(p)
    p.set_defaults(func=cmd_diagnose)
    p = sub.add_parser(
        "cost",
        help="what a stack costs per hour: idle, and every pool at its "
        "ceiling, from a dated price table (no Pulumi run)",
        description=cost.__doc__.splitlines()[0],
    )
    cost.add_arguments(p)
    p.set_defaults(func=cmd_cost)
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


if __name__ == "__main__":
    sys.exit(main())
