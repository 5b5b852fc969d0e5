"""The self-test run at pod start (`python -m trainer.selftest ... --node-check`), before
torchrun: what its failure exits with.

A check that passed in the image build and fails in a pod is most likely this node's fault (its
EFA devices, driver or libfabric do not come up), so the pod exits EXIT_NODE_CHECK, which the
training operator treats as retryable (>= 128: kubeflow/trainer v1.9.3 pkg/util/train/
train_util.go IsRetryableExitCode) and recreates the pod, possibly on another node. Exit 1, as
before, failed the whole job for one bad node. The pod's recreations are counted like
trainer.launch's own failures (crash_loop.py, the same per-pod file), so a failure that follows
the job to every node still ends as EXIT_CRASH_LOOP after backoffLimit attempts.
"""

from __future__ import annotations

import socket
import sys

from .exit_codes import EXIT_NODE_CHECK

PREFIX = "trainer.selftest: node check failed"  # jobwatch/diagnose/containers.py reads it


def failure_code(failed: list[str], backoff_limit: int | None, checkpoint_dir: str | None) -> int:
    """The exit code for a node check whose checks `failed` did not pass."""
    print(
        f"{PREFIX} in pod {socket.gethostname()} ({', '.join(failed)}); exiting "
        f"{EXIT_NODE_CHECK} so the pod is recreated, possibly on another node",
        file=sys.stderr,
        flush=True,
    )
    if checkpoint_dir is None or backoff_limit is None:
        return EXIT_NODE_CHECK
    try:
        from . import crash_loop  # reads checkpoints: torch, which the check may find broken
    except Exception as e:
        print(f"{PREFIX}: cannot count it ({type(e).__name__}: {e})", file=sys.stderr)
        return EXIT_NODE_CHECK
    return crash_loop.after_failure(checkpoint_dir, EXIT_NODE_CHECK, backoff_limit)
