"""`trainstack preflight`: check the trainer image's Dockerfile and requirements."""

from __future__ import annotations

import argparse

from imagebuild import preflight

from ..project import find_root

HELP = (
    "check the trainer image's Dockerfile and requirements "
    "for torch/CUDA/driver/Python conflicts (exit 1 on an error)"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    preflight.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    # The build context (and default paths): --project-dir, else the project found from here,
    # as plan and cost find it. Paths given on the command line stay relative to the current
    # directory, as for any command.
    return preflight.run(args, root=args.project_dir or find_root())
