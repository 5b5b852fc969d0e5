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
from ports import free_port
from trainer_support import _env

from trainer import crash_loop, exit_codes
from trainer import launch as trainer_launch

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


def launch(
    tmp_path: Path, mode: str, *, max_restarts: int = 0, own: tuple[str, ...] = ()
) -> subprocess.Popen:
    argv = [
        sys.executable,
        "-m",
        "trainer.launch",
        *own,
        "--nnodes=1",
        "--nproc-per-node=2",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint=127.0.0.1:{free_port()}",
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
        f"--rdzv-endpoint=127.0.0.1:{free_port()}",
        "--max-restarts=0",
        str(WORKER),
        "exit3",
        str(tmp_path),
    ]
    proc = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "exitcode: 3" in proc.stderr


def test_an_exception_in_a_rank_is_a_retryable_pod_exit(tmp_path):
    """A rank's exit 1 (an exception: NCCL timeout, ...) becomes EXIT_RETRY, which the operator
    recreates the pod for. The other causes run through the rendered PyTorchJob command itself
    (tests/components/test_training_job.py): exit 3 (non-finite: fail) in
    test_rendered_command_reports_the_rank_failure_to_the_operator, SIGKILL (137: restart) in
    its crash-loop test, success (0) in its training run."""
    rc, err = finish(launch(tmp_path, "exit1"))
    assert rc == exit_codes.EXIT_RETRY, err[-2000:]
    assert operator_action(rc) == "restart"


def test_a_permanent_failure_stays_permanent_and_uncounted_after_torchruns_own_restarts(tmp_path):
    # With a backoff limit of 0, a counted failure would have become EXIT_CRASH_LOOP.
    rc, err = finish(launch(tmp_path, "exit3", max_restarts=1, own=limited(tmp_path, 0)))
    assert rc == exit_codes.EXIT_NONFINITE, err[-2000:]
    assert not (tmp_path / "ckpt" / crash_loop.STATE_DIR).exists()


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


# ------------------------------------------------------------ backoffLimit (crash_loop.py)


def limited(tmp_path: Path, limit: int) -> tuple[str, ...]:
    """The launcher options the PyTorchJob renders; the stand-in's checkpoints go to ckpt/."""
    return (f"--backoff-limit={limit}", f"--checkpoint-dir={tmp_path / 'ckpt'}")


def runs(tmp_path: Path, mode: str, limit: int, times: int) -> list[int]:
    """The pod's exit codes over `times` recreations (the operator restarts it while >= 128)."""
    codes = []
    for _ in range(times):
        rc, err = finish(launch(tmp_path, mode, own=limited(tmp_path, limit)))
        codes.append(rc)
        for ready in tmp_path.glob("ready-*"):
            ready.unlink()
    return codes


def test_a_crash_loop_without_new_checkpoints_stops_past_backoff_limit(tmp_path):
    """kubeflow/trainer v1.9.3 never counts these recreations (kubeflow/trainer#2045); the
    launcher does: backoffLimit 2 allows two restarts, the third failure fails the job."""
    state = crash_loop.state_path(tmp_path / "ckpt")
    codes = runs(tmp_path, "exit1", limit=2, times=3)
    assert codes == [200, 200, exit_codes.EXIT_CRASH_LOOP]
    assert [operator_action(c) for c in codes] == ["restart", "restart", "fail"]
    # Stopping clears the counts: the same job relaunched starts again from zero.
    assert not state.parent.exists()


def test_failures_with_a_new_checkpoint_in_between_never_stop_the_job(tmp_path):
    codes = runs(tmp_path, "progress", limit=1, times=3)
    assert codes == [200] * 3
    record = crash_loop.read(crash_loop.state_path(tmp_path / "ckpt"))
    assert record.step == 3 and record.codes == [200]  # counted from the newest checkpoint


def test_backoff_limit_zero_stops_at_the_first_failure_without_progress(tmp_path):
    # What trainer.launch returns after a retryable failure (the crash-loop run above goes
    # through the launcher itself).
    assert crash_loop.after_failure(tmp_path / "ckpt", 200, limit=0) == exit_codes.EXIT_CRASH_LOOP


def test_sigterm_to_the_pod_reaches_the_workers_exits_143_and_is_not_counted(tmp_path):
    """A pod being deleted (drain, eviction) must never exit 1-127: the operator reads its exit
    code and would fail the job (v1.9.3 pkg/controller.v1/common/pod.go). With a backoff limit
    of 0, a counted stop would have ended the job."""
    proc = launch(tmp_path, "wait", own=limited(tmp_path, 0))
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("ready-*"))) < 2:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGTERM)
    rc, err = finish(proc)
    assert rc == exit_codes.EXIT_SIGTERM == 143, err[-2000:]
    assert "stopped by SIGTERM" in err and operator_action(rc) == "restart"
    assert not (tmp_path / "ckpt" / crash_loop.STATE_DIR).exists()


def test_a_corrupt_state_file_counts_as_zero(tmp_path):
    state = crash_loop.state_path(tmp_path / "ckpt")
    state.parent.mkdir(parents=True)
    state.write_text('{"step": null, "codes": [200, 2')  # torn by a crash mid-write
    # What trainer.launch calls after a failure (the launcher's own path: the crash-loop tests).
    assert crash_loop.after_failure(tmp_path / "ckpt", 200, limit=1) == 200
    assert crash_loop.read(state) == crash_loop.Record(None, [200], crash_loop.read(state).updated)


def test_the_record_is_replaced_atomically(tmp_path, monkeypatch):
    """A write that dies half way leaves the previous record whole, and no partial file."""
    ckpt = tmp_path / "ckpt"
    assert crash_loop.after_failure(ckpt, 200, limit=3, pod="p") == 200
    path = crash_loop.state_path(ckpt, "p")

    def torn(obj, f):
        f.write('{"step": ')
        raise OSError("no space left on device")

    monkeypatch.setattr(crash_loop.json, "dump", torn)
    assert crash_loop.after_failure(ckpt, 137, limit=3, pod="p") == 137  # still retryable
    assert crash_loop.read(path).codes == [200]
    monkeypatch.undo()
    assert crash_loop.after_failure(ckpt, 137, limit=3, pod="p") == 137
    assert crash_loop.read(path).codes == [200, 137]
    assert sorted(p.name for p in path.parent.iterdir() if not p.name.startswith(".")) == ["p.json"]


def test_each_pod_counts_its_own_failures(tmp_path):
    """Pods failing in the same incident write their own files: no lost update, and one
    incident counts once per pod, not once per failed pod."""
    ckpt = tmp_path / "ckpt"
    for _ in range(2):
        for pod in ("j-master-0", "j-worker-0", "j-worker-1"):
            assert crash_loop.after_failure(ckpt, 200, limit=2, pod=pod) == 200
    assert crash_loop.after_failure(ckpt, 200, limit=2, pod="j-worker-1") == 4


@pytest.mark.parametrize(
    "argv",
    [
        ["--backoff-limit=2"],  # without the directory
        ["--backoff-limit=-1", "--checkpoint-dir=/c"],
        ["--backoff-limit=two", "--checkpoint-dir=/c"],
    ],
)
def test_bad_launcher_options_exit_2(argv):
    with pytest.raises(SystemExit) as e:
        trainer_launch.split_args([*argv, "--nnodes=1", "script.py"])
    assert e.value.code == exit_codes.EXIT_CONFIG


def test_only_the_leading_options_are_the_launchers():
    rest = ["--nnodes=1", "-m", "trainer", "--checkpoint-dir", "x", "--backoff-limit=1"]
    own, torchrun_args = trainer_launch.split_args(
        ["--backoff-limit", "3", "--checkpoint-dir=/c", *rest]
    )
    assert (own.backoff_limit, own.checkpoint_dir) == (3, "/c") and torchrun_args == rest
    own, torchrun_args = trainer_launch.split_args(rest)
    assert own.checkpoint_dir is None and torchrun_args == rest
