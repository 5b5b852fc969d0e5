"""What each exit code of a trainer process or pod means, and whether a restart can help.

The training operator decides from the pod's exit code alone when a replica's restartPolicy is
ExitCode (kubeflow/trainer v1.9.3 pkg/util/train/train_util.go IsRetryableExitCode: >= 128 is
retryable, the pod is deleted and recreated; pkg/controller.v1/common/pod.go: anything else
fails the job). So a failure a restart cannot fix is below 128 and everything else at or above.
Ray Train reads the same table (ray_train.FINAL_CODES).
"""

from __future__ import annotations

import os
import signal
import sys

EXIT_OK = 0
# bad configuration, or what the same configuration hits again: a CUDA out-of-memory error, an
# S3 request refused with a 4xx (permanent_errors.py)
EXIT_CONFIG = 2
EXIT_NONFINITE = 3  # non-finite loss or gradient: resuming replays the same steps
# trainer.launch only: this pod failed retryably more than backoffLimit times in a row without a
# new checkpoint (trainer/crash_loop.py), which the operator itself does not count under ExitCode.
EXIT_CRASH_LOOP = 4
# trainer.netcheck: EFA was expected but NCCL used sockets, or the bus bandwidth is under the
# stated share of the instance's network. Permanent: the job stops before training at TCP speed.
EXIT_NETWORK = 5
PERMANENT = (EXIT_CONFIG, EXIT_NONFINITE, EXIT_CRASH_LOOP, EXIT_NETWORK)
EXIT_SIGTERM = 128 + signal.SIGTERM  # 143: stopped after saving a checkpoint
# Any other failure with no signal behind it (a Python exception such as an NCCL timeout, a
# lost peer's failed rendezvous): retryable, and above the 128+N range of signals (N <= 64) so
# it is never read as one.
EXIT_RETRY = 200
# The pod-start self-test on this node failed (selftest.py --node-check, e.g. EFA does not come
# up): retryable, so the operator recreates the pod, which may land on another node; the
# crash-loop guard bounds a failure that follows the job everywhere (crash_loop.py).
EXIT_NODE_CHECK = 201


def from_signal(signum: int) -> int:
    """The shell's and the container runtime's code for a death by signal."""
    return 128 + signum


def pod_code(codes: list[int]) -> int:
    """The one exit code for a pod whose local workers failed with `codes`, as torch elastic
    reports them (negative: killed by that signal), root cause first.

    A permanent code anywhere wins: the job must stop. Otherwise the agent's own SIGTERM to the
    ranks it shuts down after the first failure is collateral, so the root cause among the rest
    decides; a plain error (1, ...) becomes EXIT_RETRY."""
    for code in codes:
        if code in PERMANENT:
            return code
    collateral = (-signal.SIGTERM, EXIT_SIGTERM)
    causes = [c for c in codes if c not in collateral] or list(codes)
    code = causes[0] if causes else EXIT_RETRY
    if code < 0:
        return from_signal(-code)
    if code >= 128:
        return code
    return EXIT_RETRY


def exit_process(code: int) -> None:
    """End the process with `code` and no interpreter finalization, once the process group is
    gone. gloo's worker threads can still hold async work whose tensors need the GIL while the
    interpreter is torn down, which aborts the process with SIGABRT ("terminate called without
    an active exception") after a run that succeeded or failed cleanly; pytorch/pytorch#179291
    describes the race. Everything is flushed first."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
