"""`trainstack plan`: evaluate a stack offline and write build/plan/<stack>/."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..offline import crds
from ..project import find_root

HELP = "evaluate a stack offline and write build/plan/<stack>/"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", default="dev", help="stack name (Pulumi.<stack>.yaml)")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("build/plan"),
        help="output folder, relative to the project (default build/plan)",
    )


def run(args: argparse.Namespace) -> int:
    # Imported here, not above: the plan loads pulumi, the providers and botocore (~0.5 s), which
    # no other command needs.
    from components.config import ConfigError

    from ..offline import plan, plan_report
    from ..offline.stack_config import StackFileError

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
    print(plan_report.summary(result))
    # A mandatory policy violation fails the plan as it would fail `pulumi preview --policy-pack`.
    # So does an input AWS would reject (aws_rules).
    return (
        1 if (result.schema_errors or result.mandatory_violations or result.aws_violations) else 0
    )
