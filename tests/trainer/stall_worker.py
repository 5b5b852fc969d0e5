"""The trainer under torchrun (argv as `python -m trainer`'s, or with STALL_MAIN=netcheck as
`python -m trainer.netcheck`'s, which hands over to the trainer after `--`) with the last rank
asleep for STALL_S seconds before step STALL_AT_STEP, run by test_hung_job.py: the other ranks
wait for it in that step's first collective, as behind a rank stuck in NCCL, and rank 0 prints
no step line more while its pod would stay Running."""

import os
import sys
import time

from trainer import exit_codes, train

AT, FOR_S = int(os.environ["STALL_AT_STEP"]), float(os.environ["STALL_S"])
real_step = train.train_step


def train_step(model, optimizer, micro_batches, cfg, d, step, *args, **kwargs):
    if step == AT and d.rank == d.world_size - 1:
        time.sleep(FOR_S)
    return real_step(model, optimizer, micro_batches, cfg, d, step, *args, **kwargs)


train.train_step = train_step
if os.environ.get("STALL_MAIN") == "netcheck":
    from trainer import netcheck  # its hand-over imports this same, patched, train module

    exit_codes.exit_process(netcheck.main(sys.argv[1:]))
exit_codes.exit_process(train.main(sys.argv[1:]))
