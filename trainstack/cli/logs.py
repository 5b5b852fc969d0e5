"""`trainstack logs JOB [-f]`: rank 0's log, across container restarts."""

from __future__ import annotations

import argparse

from ..ops import jobs
from .options import add_job, job_command

HELP = "rank 0's log; a progress bar for step lines on a terminal"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_job(p)
    p.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="stream until the job ends, across container restarts (exit 1 if the job failed)",
    )


def run(args: argparse.Namespace) -> int:
    return job_command(
        args, lambda api: jobs.stream_logs(api, args.job, args.namespace, args.follow)
    )
