"""The trainer under torchrun (argv as `python -m trainer`'s) with rank 0 SIGKILLed in the commit
of step `KILL_IN_COMMIT`'s checkpoint, run by test_async_checkpoint.py: after every rank's shards
and DCP's `.metadata` are written, before the trainer state and the rename that publish it. A
restart (TORCHELASTIC_RESTART_COUNT > 0) is not killed."""

import os
import signal
import sys

from trainer import checkpoint, exit_codes, train

KILL = int(os.environ["KILL_IN_COMMIT"])
real_commit = checkpoint.commit


def commit(tmp, final, trainer_state, keep):
    if checkpoint.step_of(final) == KILL and os.environ.get("TORCHELASTIC_RESTART_COUNT") == "0":
        os.kill(os.getpid(), signal.SIGKILL)
    real_commit(tmp, final, trainer_state, keep)


checkpoint.commit = commit
exit_codes.exit_process(train.main(sys.argv[1:]))
