"""The run's figures in Weights & Biases: rank 0, and only when the job has a W&B key.

On when WANDB_API_KEY is in the environment (a stack job gets it from the Secret made of
`trainstack:wandbApiKey`, components/wandb_env.py) and the `wandb` package imports; imported
here only then, as it is a heavy optional dependency. The same figures as metrics.jsonl and
TensorBoard, under TensorBoard's tags (tensorboard_log.TAGS: `train/loss`, `perf/mfu`,
`perf/data_wait_share`, ...; W&B groups panels by the part before the `/`), at the trainer's
step; the run's summary record as the W&B run's summary, and the trainer's config as its config.

Everything else comes from wandb's own environment variables, which it reads itself
(wandb 0.31.0 wandb/env.py): WANDB_PROJECT, WANDB_ENTITY, WANDB_RUN_GROUP, WANDB_NAME (the stack
sets these), WANDB_MODE (`offline` keeps the records on disk for `wandb sync`; `disabled` turns
W&B off for one job), WANDB_DIR (default here: the metrics folder).

One W&B run per job: its id is the job's name (JOB_NAME, or WANDB_RUN_ID when set), resumed with
resume="allow", so a restarted pod continues the same run. W&B writes only a run's current and
next steps (docs.wandb.ai/models/track/log): the steps a restart redoes after its
checkpoint are not sent again, so W&B keeps their first values (metrics.jsonl and TensorBoard
keep the newest).

Fail-soft: W&B never stops training. A failing init or log call is said once, and the run goes
on without W&B; wandb's own timeouts bound how long start and finish may wait for its servers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .tensorboard_log import TAGS

KEY_ENV = "WANDB_API_KEY"
# wandb.Settings (wandb 0.31.0 wandb/sdk/wandb_settings.py): init_timeout (default 90 s) is how
# long wandb.init waits for the server; finish_timeout (default 0, unbounded) how long
# run.finish and the exit hook wait for the upload, after which the records stay on disk for
# `wandb sync`. Bounded so an outage costs a job seconds, not the ranks' collective timeout.
INIT_TIMEOUT_S = 30.0
FINISH_TIMEOUT_S = 60.0
# The summary record's figures that go to the W&B run's summary.
SUMMARY = (
    "steps",
    "final_loss",
    "val_loss",
    "tokens_per_s",
    "tokens_per_s_per_device",
    "tflops_per_device",
    "mfu",
    "data_share",
    "peak_mem_gib",
    "parameters",
    "world_size",
)
# A run id may not hold any of : ; , # ? / ' (wandb 0.31.0 wandb_settings.py validate_run_id)
# nor \ % (wandb.init's docs); a job name (a DNS label) has none, anything else is replaced.
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9._-]")


def run_id(env: Mapping[str, str]) -> str | None:
    """WANDB_RUN_ID if set, else the job's name; None outside a job (W&B makes one up)."""
    if given := env.get("WANDB_RUN_ID"):
        return given
    job = env.get("JOB_NAME", "").strip()
    return _NOT_IN_ID.sub("-", job) if job else None


def _say(text: str) -> None:
    print(f"trainer: {text}", flush=True)


class WandbLog:
    """Rank 0's records as one W&B run; a no-op when off (other ranks, no key, no package)."""

    def __init__(
        self,
        out_dir: str | Path,
        enabled: bool,
        env: Mapping[str, str] | None = None,
        config: dict[str, Any] | None = None,
    ):
        self.run: Any = None
        self.skipped = 0  # records of steps W&B already holds
        env = os.environ if env is None else env
        if not enabled or not env.get(KEY_ENV):
            return
        try:
            import wandb  # the optional dependency, only where it is used
        except ImportError:
            _say(f"{KEY_ENV} is set but the wandb package is not installed: no W&B logging")
            return
        ident = run_id(env)
        try:
            self.run = wandb.init(
                id=ident,
                resume="allow",
                dir=env.get("WANDB_DIR") or str(out_dir),
                config=config,
                settings=wandb.Settings(
                    console="off",  # the trainer's log stays as the job watcher reads it
                    init_timeout=INIT_TIMEOUT_S,
                    finish_timeout=FINISH_TIMEOUT_S,
                ),
            )
        except Exception as e:  # an outage, a bad key, a quota: training goes on
            _say(f"W&B not started ({type(e).__name__}: {e}); training goes on without it")
            return
        at = self.run.step
        _say(f"W&B run {self.run.id}" + (f", resumed at step {at}" if at else ""))

    def record(self, record: dict) -> None:
        """One metrics.jsonl record: a step's figures, or the run's summary."""
        if self.run is None:
            return
        kind, step = record.get("kind"), record.get("step")
        try:
            if kind == "summary":
                self.run.summary.update(
                    {k: record[k] for k in SUMMARY if record.get(k) is not None}
                )
                return
            values = {
                tag: float(record[field])
                for field, tag in TAGS.get(kind or "", {}).items()
                if record.get(field) is not None
            }
            if not values or step is None:
                return
            if step < self.run.step:  # redone after a restart: W&B holds it already
                if not self.skipped:
                    _say(
                        f"W&B holds steps up to {self.run.step} from before the restart; the "
                        "redone steps are not sent again"
                    )
                self.skipped += 1
                return
            self.run.log(values, step=step)
        except Exception as e:
            self._failed(e)

    def close(self) -> None:
        if self.run is None:
            return
        try:
            self.run.finish()
        except Exception as e:
            self._failed(e)
        self.run = None

    def _failed(self, e: Exception) -> None:
        """Said once; then W&B is off for the rest of the run (its exit hook still finishes the
        run within FINISH_TIMEOUT_S)."""
        _say(f"W&B logging failed ({type(e).__name__}: {e}); training goes on without it")
        self.run = None
