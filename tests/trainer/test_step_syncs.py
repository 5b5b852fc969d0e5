"""The step loop reads nothing from the device between sync points (trainer/step_values.py).

The trainer runs in one process (a gloo world of 1) with every Python way of reading a tensor on
the host patched to count: a read between two sync points would stall a GPU's queue every step.
On CUDA the probe also turns on torch.cuda.set_sync_debug_mode("error") for those steps."""

from __future__ import annotations

import json
import subprocess
import sys

from trainer_support import _env

SYNC_PROBE = """
import json, sys, traceback
import torch
from trainer import config, step_values, train

READS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__")
armed, calls, flushes = [False], [], []

def counting(name, real):
    def read(self, *a, **k):
        if armed[0]:
            calls.append((name, "".join(traceback.format_stack(limit=6)[:-1])))
        return real(self, *a, **k)
    return read

for name in READS:
    setattr(torch.Tensor, name, counting(name, getattr(torch.Tensor, name)))

real_flush = step_values.StepValues.flush
def flush(self, *a, **k):
    armed[0] = False  # the sync point itself may read
    if torch.cuda.is_available():
        torch.cuda.set_sync_debug_mode(0)
    flushes.append([s for s in self._steps])
    try:
        return real_flush(self, *a, **k)
    finally:
        armed[0] = True
        if torch.cuda.is_available():
            torch.cuda.set_sync_debug_mode("error")
step_values.StepValues.flush = flush

real_train_step = train.train_step
def train_step(*a, **k):
    if not flushes:
        armed[0] = True  # from the first step on
    return real_train_step(*a, **k)
train.train_step = train_step

cfg = config.build("tiny", {
    "max_steps": 9, "checkpoint.interval": 0, "checkpoint.dir": sys.argv[1] + "/ckpt",
    "metrics.out_dir": sys.argv[1] + "/runs", "metrics.log_interval": 4,
})
summary = train.run(cfg)
armed[0] = False
print(json.dumps({"flushes": flushes, "calls": calls, "steps": summary["steps"]}))
"""


def test_no_host_reads_between_sync_points(tmp_path):
    p = subprocess.run(
        [sys.executable, "-c", SYNC_PROBE, str(tmp_path)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert result["steps"] == 9
    # Read at the log steps 4 and 8 and at the last, 9: three times in nine steps.
    assert result["flushes"] == [[1, 2, 3, 4], [5, 6, 7, 8], [9]]
    calls = result["calls"]
    assert calls == [], f"{len(calls)} host reads inside the steps; first:\n" + "\n".join(
        f"{name}:\n{stack}" for name, stack in calls[:3]
    )
