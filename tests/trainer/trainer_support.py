"""Run the trainer as real processes (alone and under torchrun) and read what it recorded.

Imported by name (`from trainer_support import ...`), not from `conftest`: once another test
folder has a conftest.py too, `from conftest import` picks whichever loaded last."""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch.distributed as dist
from ports import free_port

from trainer import tensorboard_log
from trainer.metrics import read_records

# Variables a parent process group would leak into a child that must start its own.
_DIST_VARS = (
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "GROUP_RANK",
    "ROLE_RANK",
    "TORCHELASTIC_RUN_ID",
)
# A fixed MFU denominator: the measured one is cached per machine, and measured while other tests
# load the cores it can sit below what a later step achieves (tests/trainer/test_peak.py covers
# the measurement itself).
FAST = [
    "--preset",
    "tiny",
    "--metrics.log-interval",
    "1",
    "--metrics.val-sequences",
    "8",
    "--metrics.peak-tflops",
    "1.0",
    # No loss.png (matplotlib's import and drawing: half a second of CPU in each of the suite's
    # many runs); the reference run draws it and its test checks it.
    "--metrics.plot",
    "false",
    # No TensorBoard files either (tensorboardX's import in every run); the reference run writes
    # them and tests/trainer/test_tensorboard.py reads them back.
    "--metrics.tensorboard",
    "false",
]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    workdir: Path

    @property
    def ckpt_dir(self) -> Path:
        return self.workdir / "ckpt"

    def records(self, kind: str = "train") -> dict[int, dict]:
        return read_records(self.workdir / "runs" / "metrics.jsonl", kind)

    def losses(self) -> dict[int, float]:
        return {s: r["loss"] for s, r in self.records("train").items()}


ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _DIST_VARS}
    env["OMP_NUM_THREADS"] = "1"
    # Inductor compiles in the process itself, not in a pool of worker processes that each
    # import torch again (torch 2.13 torch/_inductor/config.py decide_compile_threads): on two
    # cores the pool's start-up cost more than its parallel compiles saved.
    env["TORCHINDUCTOR_COMPILE_THREADS"] = "1"
    # This checkout's trainer, not whichever one the venv's editable install points at.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@contextlib.contextmanager
def moto_s3(bucket: str) -> Iterator:
    """A moto S3 server in server mode on localhost holding `bucket`, reached through
    AWS_ENDPOINT_URL (boto3 reads it; run_trainer's subprocesses inherit os.environ); yields a
    client of it."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    mp = pytest.MonkeyPatch()
    for k, v in {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        mp.setenv(k, v)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        mp.delenv(k, raising=False)
    try:
        client = boto3.client("s3")
        client.create_bucket(Bucket=bucket)
        yield client
    finally:
        mp.undo()
        server.stop()


def command(workdir: Path, args: list[str], nproc: int = 0, max_restarts: int = 0) -> list[str]:
    base = ["--checkpoint.dir", str(workdir / "ckpt"), "--metrics.out-dir", str(workdir / "runs")]
    if not nproc:
        return [sys.executable, "-m", "trainer", *FAST, *base, *args]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        str(nproc),
        "--max-restarts",
        str(max_restarts),
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        f"127.0.0.1:{free_port()}",
        "-m",
        "trainer",
        *FAST,
        *base,
        *args,
    ]


def run_trainer(
    workdir: Path, *args: str, nproc: int = 0, max_restarts: int = 0, timeout: float = 180
) -> Run:
    workdir.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(
        command(workdir, list(args), nproc, max_restarts),
        cwd=workdir,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(p.returncode, p.stdout, p.stderr, workdir)


def run_worker(
    workdir: Path, script: Path, *args: str, nproc: int, env: dict[str, str], timeout: float = 180
) -> Run:
    """run_trainer under torchrun with `script`, which runs the trainer on its argv, in place of
    `-m trainer`, and `env` added to the environment."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = command(workdir, list(args), nproc)
    i = cmd.index("trainer", cmd.index("--rdzv-endpoint"))  # torchrun's `-m trainer`
    cmd[i - 1 : i + 1] = [str(script)]
    p = subprocess.run(
        cmd, cwd=workdir, env=_env() | env, capture_output=True, text=True, timeout=timeout
    )
    return Run(p.returncode, p.stdout, p.stderr, workdir)


def start_trainer(workdir: Path, *args: str, nproc: int = 0) -> subprocess.Popen:
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        command(workdir, list(args), nproc),
        cwd=workdir,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def export_tensors(directory: Path) -> dict:
    """A Hugging Face export's tensors by name, read with safetensors (trainer/hf_export.py)."""
    from safetensors.torch import load_file

    return {k: v for f in sorted(directory.glob("*.safetensors")) for k, v in load_file(f).items()}


def assert_close(a: dict[int, float], b: dict[int, float], rtol: float) -> None:
    """Two runs' losses, step by step."""
    assert a.keys() == b.keys()
    for step in a:
        assert math.isclose(a[step], b[step], rel_tol=rtol), (step, a[step], b[step])


def ok(run: Run) -> Run:
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run


STEPS = 12
CKPT_EVERY = 4


@contextlib.contextmanager
def one_rank_gloo() -> Iterator[None]:
    """A one-rank gloo process group in this process, as the trainer makes alone."""
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1
    )
    try:
        yield
    finally:
        dist.destroy_process_group()


# TensorBoard files read back (tests/trainer/test_tensorboard.py, test_trainer_runs.py)


def tensorboard_scalars(directory: Path) -> dict[str, dict[int, float]]:
    """{tag: {step: value}} as TensorBoard shows it: purges of restarted runs applied."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(directory), size_guidance={"scalars": 0})  # 0: keep every event
    acc.Reload()
    out = {}
    for tag in acc.Tags()["scalars"]:
        events = acc.Scalars(tag)
        steps = [e.step for e in events]
        assert steps == sorted(set(steps)), f"{tag}: steps repeated or out of order: {steps}"
        out[tag] = {e.step: e.value for e in events}
    return out


def expected_scalars(records: dict[str, dict]) -> dict[str, dict[int, float]]:
    """{tag: {step: value}} of metrics.jsonl's records, by trainer/tensorboard_log.py's table."""
    out: dict[str, dict[int, float]] = {}
    for kind, fields in tensorboard_log.TAGS.items():
        for step, record in records.get(kind, {}).items():
            for field, tag in fields.items():
                out.setdefault(tag, {})[step] = record[field]
    return out


def assert_same_scalars(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for tag in want:
        assert list(got[tag]) == list(want[tag]), tag
        for step, value in want[tag].items():  # TensorBoard keeps float32
            assert math.isclose(got[tag][step], value, rel_tol=1e-6), (tag, step)
