"""`trainstack cost`: what a stack costs per hour while idle and with every GPU pool at its
ceiling, from a dated price table: the program runs offline (no cloud, no Pulumi CLI) and what it
creates is priced."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..cost import PRICES_FILE, PriceError, format_report
from ..project import ProjectNotFound, find_root

HELP = (
    "what a stack costs per hour: idle, and every pool at its "
    "ceiling, from a dated price table (the program runs offline: no cloud, no Pulumi CLI)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default="dev", help="stack name (Pulumi.<stack>.yaml)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--prices",
        type=Path,
        default=PRICES_FILE,
        metavar="FILE",
        help="price table to use instead of the dated one shipped as "
        f"components/{PRICES_FILE.name} (same YAML layout)",
    )


def run(args: argparse.Namespace, root: Path | None = None) -> int:
    """`trainstack cost` with parsed arguments; 0 on success, 2 on a config or price problem."""
    from components.config import ConfigError

    # The stack loader loads pulumi (~0.3 s): only when a stack is priced, not on every command.
    from ..offline.costing import price_stack
    from ..offline.stack_config import StackFileError, load_stack_config

    try:
        # The same validation `trainstack plan` runs first, then the program under the mock
        # engine for the resources to price (it checks more: plain-text secrets).
        root = Path(root or getattr(args, "project_dir", None) or find_root())
        stack_cfg = load_stack_config(root, args.stack)
        report = price_stack(stack_cfg, args.stack, args.prices, project_dir=root)
    except (ConfigError, StackFileError, PriceError) as err:
        print(f"trainstack cost: stack '{args.stack}': {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_report(report))
    return 0


def main(argv: list[str] | None = None, project_root: Path | None = None) -> int:
    """`trainstack cost --stack dev [--json] [--prices FILE]` run from `project_root`."""
    parser = argparse.ArgumentParser(prog="trainstack cost", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    if project_root is None:
        try:
            project_root = find_root()
        except ProjectNotFound as err:
            print(f"trainstack cost: {err}", file=sys.stderr)
            return 2
    return run(args, project_root)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
