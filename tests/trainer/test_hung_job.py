"""One real run of a job with `netcheck: true` whose trainer then stops making progress: two
ranks under torchrun on CPU run the network check of `trainstack netcheck`'s rendered job (gloo:
the table, no GPU/EFA verdict), hand over to the trainer in the same processes, and the last rank
falls asleep before step STALL_AT (stall_worker.py), so rank 0 waits in that step's collective.
Rank 0's lines are stamped as they arrive, as the pods/log subresource stamps them for the
watcher, and the hung-job rule (jobwatch/progress.py) must call the run hung, not before the
stall. The run is then killed: it would wait out the process group's timeout. One run serves the
three tests (each torchrun of two ranks costs seconds of imports)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from job_support import IMAGE, stack
from ports import free_port
from trainer_support import FAST, _env

from components import config, job_contracts, netcheck_job
from components.training_job import JobTarget
from jobwatch import progress
from trainer import netcheck

STALL_AT = 4
RULE = progress.HungRule(factor=10, floor_s=2)  # the floor of a real job is minutes
WORKER = Path(__file__).with_name("stall_worker.py")
STAMP = "2026-01-01T00:00:00.000000Z"  # any log timestamp: read_series needs one per line


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`, from /proc (Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def stop(proc: subprocess.Popen) -> None:
    """SIGKILL torchrun and its ranks. Not SIGTERM: the trainer defers it to the next step's
    sync, which rank 0 never reaches, so torchrun would wait out its own grace period. Not a
    process group: torchrun starts each rank in a session of its own (torch 2.13
    torch/distributed/elastic/multiprocessing/subprocess_handler/subprocess_handler.py)."""
    for pid in [*children(proc.pid), proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


def _rendered_check() -> list[str]:
    """The script words of `trainstack netcheck`'s rendered job, from `-m trainer.netcheck` on."""
    cfg = config.parse(stack())
    pool = cfg.pools()["small"]
    job = netcheck_job.job_config("small", pool, 2, "ckpt")
    target = JobTarget("training", IMAGE, pool, "ckpt", cfg.volumes["ckpt"])
    setting = job_contracts.JobSetting(None, "10.0.0.0/16", None)
    m = netcheck_job.render_netcheck("netcheck-small", job, target, setting)[0]
    cmd = m["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["command"]
    return cmd[cmd.index("trainer.netcheck") + 1 :]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(rank 0's stamped lines, the rule's verdict at each poll, the last series)."""
    tmp = tmp_path_factory.mktemp("check-then-stall")
    tiny = ["--min-bytes", "1024", "--max-bytes", "16384", "--iters", "2", "--warmup", "1"]
    train = [*FAST, "--max-steps", "50", "--checkpoint.interval", "0"]
    train += ["--checkpoint.dir", str(tmp / "ckpt"), "--metrics.out-dir", str(tmp / "runs")]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node=2",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint=127.0.0.1:{free_port()}",
        str(WORKER),  # in place of `-m trainer.netcheck`
        *_rendered_check(),
        *tiny,
        "--",
        *train,
    ]
    env = _env() | {"STALL_MAIN": "netcheck", "STALL_AT_STEP": str(STALL_AT), "STALL_S": "60"}
    proc = subprocess.Popen(
        cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    stamped: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            when = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            stamped.append(f"{when} {line.rstrip()}")

    threading.Thread(target=read, daemon=True).start()
    verdicts = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            series = progress.read_series("\n".join(list(stamped)))
            verdicts.append(progress.judge(series, time.time(), RULE))
            if verdicts[-1].state == "hung" or proc.poll() is not None:
                break
            time.sleep(0.25)
    finally:
        stop(proc)
    return [line.split(" ", 1)[1] for line in stamped], verdicts, series


def test_the_check_prints_its_table_and_passes_on_gloo(run):
    lines, _, _ = run
    rows = [line.split() for line in lines if line.startswith("all_")]
    assert [(r[0], int(r[1])) for r in rows] == [
        (op, n) for op in ("all_reduce", "all_gather") for n in (1024, 4096, 16384)
    ]
    assert all(float(r[4]) > 0 for r in rows)  # busbw GB/s
    [result] = [json.loads(x.split(netcheck.RESULT, 1)[1]) for x in lines if netcheck.RESULT in x]
    assert result["backend"] == "gloo" and result["ranks"] == 2 and result["code"] == 0
    assert "no GPU/EFA verdict" in result["verdict"][0]


def test_a_pass_hands_over_to_the_trainer_in_the_same_processes(run):
    lines, _, series = run
    after = lines[next(i for i, x in enumerate(lines) if netcheck.RESULT in x) + 1 :]
    # No second rendezvous: the trainer's step lines follow the check's result.
    assert [p.step for p in series.points] == list(range(1, STALL_AT))
    assert progress.read_series("\n".join(f"{STAMP} {x}" for x in after)).points


def test_a_rank_asleep_in_a_collective_makes_the_job_hung(run):
    lines, verdicts, series = run
    last = verdicts[-1]
    assert last.state == "hung", (last, lines[-5:])
    assert last.step == STALL_AT - 1  # the steps before the stall were printed, none after
    assert [p.step for p in series.points] == list(range(1, STALL_AT))
    # Until the quiet outlasted the limit the rule said fine, slow or starting.
    assert all(v.state != "hung" for v in verdicts[:-1])
    assert last.quiet_s > max(RULE.floor_s, RULE.factor * last.line_s)
