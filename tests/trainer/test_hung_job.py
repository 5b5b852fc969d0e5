"""The hung-job rule (jobwatch/progress.py) on a real trainer that stops making progress: two
ranks under torchrun on CPU, the last one asleep before step STALL_AT (stall_worker.py), so
rank 0 waits in that step's collective. Rank 0's lines are stamped as they arrive, as the pods/
log subresource stamps them for the watcher, and the rule must call the run hung, not before
the stall. The run is then killed: it would wait out the process group's timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from trainer_support import _env, command

from jobwatch import progress

STALL_AT = 4
RULE = progress.HungRule(factor=10, floor_s=2)  # the floor of a real job is minutes
WORKER = Path(__file__).with_name("stall_worker.py")


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


def test_a_rank_asleep_in_a_collective_makes_the_job_hung(tmp_path):
    cmd = command(tmp_path, ["--max-steps", "50", "--checkpoint.interval", "0"], nproc=2)
    i = cmd.index("trainer", cmd.index("--rdzv-endpoint"))  # torchrun's `-m trainer`
    cmd[i - 1 : i + 1] = [str(WORKER)]
    env = _env() | {"STALL_AT_STEP": str(STALL_AT), "STALL_S": "60"}
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
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
    last = verdicts[-1]
    assert last.state == "hung", (last, stamped[-5:])
    assert last.step == STALL_AT - 1  # the steps before the stall were printed, none after
    assert [p.step for p in series.points] == list(range(1, STALL_AT))
    # Until the quiet outlasted the limit the rule said fine, slow or starting.
    assert all(v.state != "hung" for v in verdicts[:-1])
    assert last.quiet_s > max(RULE.floor_s, RULE.factor * last.line_s)
