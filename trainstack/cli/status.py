"""`trainstack status JOB`: a training job's state, pods, checkpoint and likely causes."""

from __future__ import annotations

import argparse

from ..ops import jobs
from ..ops.job_kinds import KINDS
from .options import add_job, job_command

HELP = (
    f"a {' or '.join(k.kind for k in KINDS)}'s state, pods, newest "
    "checkpoint and, when something is wrong, the likely causes (exit 1 if "
    "it failed)"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_job(p)


def run(args: argparse.Namespace) -> int:
    return job_command(args, lambda api: jobs.status(api, args.job, args.namespace))
