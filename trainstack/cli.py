"""The `trainstack` command: offline plan of a stack, and the trainer image's preflight."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def project_root(start: Path | None = None) -> Path:
    """The nearest directory holding Pulumi.yaml, from the current directory upwards."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").exists():
            return folder
    raise SystemExit("trainstack: no Pulumi.yaml here or above; run it inside the project "
                     "or pass --project-dir")


def cmd_plan(args: argparse.Namespace) -> int:
    from components.config import ConfigError

    from . import plan
    from .offline.stack_config import StackFileError

    root = args.project_dir or project_root()
    try:
        result = plan.run(root, args.stack, out_root=root / args.out)
    except (ConfigError, StackFileError) as err:
        print(f"trainstack plan: stack '{args.stack}': {err}", file=sys.stderr)
        return 2
    print(plan.summary(result))
    return 1 if result.schema_errors else 0


def cmd_preflight(args: argparse.Namespace) -> int:
    from . import preflight

    # The build context (and default paths): --project-dir, else the current directory.
    return preflight.run(args, root=args.project_dir)


def main(argv: list[str] | None = None) -> int:
    from . import preflight  # standard library only, like this module

    parser = argparse.ArgumentParser(prog="trainstack", description=__doc__)
    parser.add_argument("--project-dir", type=Path, default=None,
                        help="the folder holding Pulumi.yaml (default: found from here)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan", help="evaluate a stack offline and write build/plan/<stack>/")
    p.add_argument("--stack", default="dev", help="stack name (Pulumi.<stack>.yaml)")
    p.add_argument("--out", type=Path, default=Path("build/plan"),
                   help="output folder, relative to the project (default build/plan)")
    p.set_defaults(func=cmd_plan)
    p = sub.add_parser("preflight", help="check the trainer image's Dockerfile and requirements "
                       "for torch/CUDA/driver/Python conflicts (exit 1 on an error)")
    preflight.add_arguments(p)
    p.set_defaults(func=cmd_preflight)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
