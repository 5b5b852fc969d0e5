"""A stand-in for the trainer under torchrun: local rank 1 ends as `argv[1]` says, the others
wait to be stopped, as ranks blocked in a collective would. `ready` files say who started.
"progress" fails like "exit1" after publishing a new complete checkpoint in `<argv[2]>/ckpt`
(the layout trainer/checkpoint.py reads), as a run that trains a while between failures."""

import os
import signal
import sys
import time
from pathlib import Path

mode, ready_dir = sys.argv[1], Path(sys.argv[2])
(ready_dir / f"ready-{os.environ['RANK']}").touch()
if os.environ["LOCAL_RANK"] == "1":
    if mode == "exit3":
        sys.exit(3)
    if mode == "exit1":
        sys.exit(1)
    if mode == "progress":
        ckpt = ready_dir / "ckpt"
        step = len(list(ckpt.glob("step_*"))) + 1
        tmp = ckpt / f".tmp-step_{step:08d}"
        tmp.mkdir(parents=True)
        (tmp / ".metadata").touch()
        (tmp / "trainer_state.json").write_text("{}")
        tmp.rename(ckpt / f"step_{step:08d}")
        sys.exit(1)
    if mode == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
if mode in ("ok", "exit3", "exit1", "sigkill", "progress"):
    # The other ranks: done at once when all is well, else blocked until torchrun stops them.
    time.sleep(0 if mode == "ok" else 60)
else:  # "wait": every rank runs until SIGTERM, then exits 143 as the trainer does after saving
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    time.sleep(60)
