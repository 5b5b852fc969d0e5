"""trainer.launch: torchrun whose exit code tells the training operator whether to restart.

Run for real with torchrun's c10d rendezvous on CPU: what a pod would report when a rank exits
3, is SIGKILLed, succeeds, or when the pod itself gets SIGTERM; and what the operator would do.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from trainer_support import _env, _free_port

from trainer import exit_codes

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("retry_worker.py")


def operator_action(code: int) -> str:
    """What the training operator does with a replica pod that ended with `code` under
    restartPolicy ExitCode: kubeflow/trainer v1.9.3 pkg/controller.v1/common/pod.go
    (ReconcilePods) deletes a failed pod to recreate it when IsRetryableExitCode
    (pkg/util/train/train_util.go: exitCode >= 128), else marks the job Failed."""
    if code == 0:
        return "succeeded"
    return "restart" if code >= 128 else "fail"


def launch(tmp_path: Path, mode: str, *, max_restarts: int = 0) -> subprocess.Popen:
    argv = [
        sys.executable,
        "-m",
        "trainer.launch",
        "--nnodes=1",
        "--nproc-per-node=2",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint=127.0.0.1:{_free_port()}",
        f"--max-restarts={max_restarts}",
        str(WORKER),
        mode,
        str(tmp_path),
    ]
    env = {**_env(), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_plain_torchrun_exits_1_for_any_worker_failure(tmp_path):
    """The upstream fact the wrapper exists for (torch 2.13 torch/distributed/run.py): torchrun
    raises ChildFailedError out of main, so a rank's exit 3 becomes the pod's 1."""
    argv = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node=2",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint=127.0.0.1:{_free_port()}",
        "--max-restarts=0",
        str(WORKER),
        "exit3",
        str(tmp_path),
    ]
    proc = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "exitcode: 3" in proc.stderr


@pytest.mark.parametrize(
    ("mode", "code", "action"),
    [
        ("exit3", exit_codes.EXIT_NONFINITE, "fail"),  # non-finite loss: resuming replays it
        ("sigkill", 128 + signal.SIGKILL, "restart"),  # OOM kill, lost process
        ("exit1", exit_codes.EXIT_RETRY, "restart"),  # an exception (NCCL timeout, ...)
        ("ok", 0, "succeeded"),
    ],
)
def test_the_pod_exit_code_carries_the_workers_cause(tmp_path, mode, code, action):
    rc, err = finish(launch(tmp_path, mode))
    assert rc == code, err[-2000:]
    assert operator_action(rc) == action


def test_a_permanent_failure_stays_permanent_after_torchruns_own_restarts(tmp_path):
    rc, err = finish(launch(tmp_path, "exit3", max_restarts=1))
    assert rc == exit_codes.EXIT_NONFINITE, err[-2000:]


def test_sigterm_to_the_pod_reaches_the_workers_and_exits_143(tmp_path):
    proc = launch(tmp_path, "wait")
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("ready-*"))) < 2:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGTERM)
    rc, err = finish(proc)
    assert rc == exit_codes.EXIT_SIGTERM == 143, err[-2000:]
    assert "stopped by SIGTERM" in err and operator_action(rc) == "restart"


@pytest.mark.parametrize(
    ("codes", "pod"),
    [
        ([-signal.SIGTERM, 3], 3),  # the agent's SIGTERM to the others is collateral
        ([-signal.SIGTERM, -signal.SIGKILL], 137),  # root cause, not the collateral SIGTERM
        ([1, 2], 2),  # a permanent code anywhere wins
        ([-signal.SIGTERM, -signal.SIGTERM], 143),
        ([143, 1], 200),
        ([-signal.SIGSEGV], 139),
        ([7], exit_codes.EXIT_RETRY),
    ],
)
def test_pod_code(codes, pod):
    assert exit_codes.pod_code(codes) == pod
    assert operator_action(pod) == ("fail" if pod in exit_codes.PERMANENT else "restart")
