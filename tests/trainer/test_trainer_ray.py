"""`python -m trainer.ray_train`: its command line, and the trainer run by Ray Train on a local
Ray instance with two CPU workers (gloo), including a worker killed mid-run."""

from __future__ import annotations

import json
import math
import os

import pytest
from trainer_support import _DIST_VARS, CKPT_EVERY, FAST, STEPS

from trainer import checkpoint, config, ray_train
from trainer.metrics import read_records

# Ray's own modules warn about their deprecated settings when Ray Train starts.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*")

ENTRYPOINT = [
    "--num-workers",
    "8",
    "--gpus-per-worker",
    "1",
    "--max-failures",
    "3",
    "--storage-path",
    "/ckpt/job/ray",
    "--",
    "--preset",
    "tiny",
    "--max-steps",
    "50",
    "--checkpoint.dir",
    "/ckpt/job/checkpoints",
    "--name",
    "ignored",
]


def test_arguments_split_at_the_double_dash():
    launch = ray_train.parse_args(ENTRYPOINT)
    assert (launch.num_workers, launch.gpus_per_worker, launch.max_failures) == (8, 1, 3)
    assert launch.storage_path == "/ckpt/job/ray" and launch.name == "trainstack"
    assert launch.resources_per_worker() == {"CPU": 1.0, "GPU": 1}
    # Everything after `--` is the trainer's, even an option the launcher also has.
    assert launch.trainer_args == ENTRYPOINT[ENTRYPOINT.index("--") + 1 :]


def test_launcher_defaults_and_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    launch = ray_train.parse_args(
        [
            "--num-workers",
            "2",
            "--max-failures",
            "0",
            "--storage-path",
            "ray",
            "--cpus-per-worker",
            "2.5",
            "--name",
            "run-1",
        ]
    )
    assert launch.storage_path == str(tmp_path / "ray")  # local paths are made absolute
    assert launch.name == "run-1" and launch.trainer_args == []
    assert launch.resources_per_worker() == {"CPU": 2.5}  # no GPU key without GPUs
    uri = ray_train.parse_args(
        ["--num-workers", "1", "--max-failures", "-1", "--storage-path", "s3://bucket/runs"]
    )
    assert uri.storage_path == "s3://bucket/runs" and uri.max_failures == -1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--gpus-per-worker", "4"], "one device per rank"),
        (["--num-workers", "0"], "at least 1"),
        (["--cpus-per-worker", "0"], "must be above 0"),
        (["--max-failures", "-2"], "-1 (no limit) or more"),
        (["--storage-path"], "expected one argument"),
    ],
)
def test_bad_launcher_arguments_exit_2(args, message, capsys):
    base = {"--num-workers": "2", "--max-failures": "1", "--storage-path": "/tmp/ray"}
    argv = [x for k, v in base.items() if k not in args for x in (k, v)] + args
    with pytest.raises(SystemExit) as e:
        ray_train.parse_args(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_trainer_arguments_are_checked_for_the_world_size_before_ray_starts(capsys):
    launch = ray_train.parse_args(
        [
            "--num-workers",
            "3",
            "--max-failures",
            "0",
            "--storage-path",
            "/tmp/ray",
            "--",
            "--preset",
            "tiny",
        ]
    )
    with pytest.raises(config.ConfigError, match="micro_batch_size x ranks = 4 x 3"):
        ray_train.check_trainer_args(launch)
    assert (
        ray_train.main(
            [
                "--num-workers",
                "3",
                "--max-failures",
                "0",
                "--storage-path",
                "/tmp/ray",
                "--",
                "--preset",
                "tiny",
            ]
        )
        == 2
    )
    assert "must be a multiple of the 3 ranks" in capsys.readouterr().err


@pytest.fixture(scope="module")
def local_ray():
    """A small local Ray instance shared by the runs below; its workers inherit this env."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.train")
    with pytest.MonkeyPatch.context() as mp:
        for var in _DIST_VARS:
            mp.delenv(var, raising=False)
        mp.setenv("OMP_NUM_THREADS", "1")
        ray.init(num_cpus=2, include_dashboard=False)
        try:
            yield ray
        finally:
            ray.shutdown()


# The args of the session's two-rank torchrun run (conftest.py two_rank_run), the reference.
TRAINER_ARGS = (
    "--max-steps",
    str(STEPS),
    "--checkpoint.interval",
    str(CKPT_EVERY),
    "--metrics.val-interval",
    str(STEPS),
    "--checkpoint.keep",
    "2",
)


def launcher_args(workdir, *trainer_args: str, max_failures: int = 0) -> list[str]:
    return [
        "--num-workers",
        "2",
        "--max-failures",
        str(max_failures),
        "--storage-path",
        str(workdir / "ray"),
        "--name",
        "test",
        "--",
        *FAST,
        *TRAINER_ARGS,
        "--checkpoint.dir",
        str(workdir / "ckpt"),
        "--metrics.out-dir",
        str(workdir / "runs"),
        *trainer_args,
    ]


def losses(workdir) -> dict[int, float]:
    return {
        s: r["loss"] for s, r in read_records(workdir / "runs" / "metrics.jsonl", "train").items()
    }


def test_killed_worker_is_restarted_and_resumes_on_torchruns_course(
    local_ray, two_rank_run, tmp_path
):
    """One Ray run on two workers: rank 1 SIGKILLs itself right after the first checkpoint, Ray
    Train restarts both workers and the trainer resumes from that checkpoint. Its losses are
    those of the same trainer under torchrun on two ranks, uninterrupted (the session's
    two_rank_run): the Ray worker's environment makes the same world."""
    killed = tmp_path / "killed"
    kill_at = str(CKPT_EVERY + 1)
    launch = ray_train.parse_args(
        launcher_args(
            killed, "--debug.kill-at-step", kill_at, "--debug.kill-rank", "1", max_failures=1
        )
    )
    result = ray_train.fit(launch, ray_train.check_trainer_args(launch))
    out = result.return_value  # rank 0's exit code and the trainer's summary
    assert out["exit_code"] == 0 and out["world_size"] == 2 and out["steps"] == STEPS
    assert result.path == str(killed / "ray" / "test")
    assert [s for s, _ in checkpoint.complete(killed / "ckpt")] == [STEPS - CKPT_EVERY, STEPS]
    # Both ranks wrote their part of each checkpoint.
    assert sorted(os.listdir(killed / "ckpt" / f"step_{STEPS:08d}" / "rng")) == [
        "rank_0.pt",
        "rank_1.pt",
    ]
    summary = json.loads((killed / "runs" / "summary.json").read_text())
    assert summary["resumed_from"] == CKPT_EVERY and summary["world_size"] == 2
    want, got = two_rank_run.losses(), losses(killed)
    assert list(got) == list(range(1, STEPS + 1)) and got.keys() == want.keys()
    assert all(math.isclose(got[s], want[s], rel_tol=1e-6) for s in want), (got, want)


def test_a_worker_expecting_efa_fails_with_the_reason_before_training(tmp_path):
    # This machine has no EFA: the check a RayJob on an EFA pool asks for must stop the worker
    # before the trainer starts (Ray Train then restarts the group), naming what is missing.
    with pytest.raises(RuntimeError, match="EFA cannot carry NCCL") as info:
        ray_train.worker(
            {"trainer_args": ["--checkpoint.dir", str(tmp_path / "never")], "expect_efa": True}
        )
    assert "fi_info" in str(info.value)
    assert not (tmp_path / "never").exists()
