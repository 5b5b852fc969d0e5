"""The run's figures as TensorBoard scalars, beside metrics.jsonl (rank 0, `metrics.tensorboard`).

Written with tensorboardX, not torch.utils.tensorboard: the latter imports the `tensorboard`
package, which brings a web server, its 20 MB Rust data server, grpcio, werkzeug and markdown
into the trainer image; tensorboardX is a 90 kB writer needing only numpy, packaging and protobuf.
The test extra has `tensorboard` to read the files back with TensorBoard's own reader.

A resumed run redoes the steps after its checkpoint, and metrics.jsonl keeps the newest record of
each. Here each start writes a new event file (events.out.tfevents.TIME.HOST.startNNNNNNNN) that
begins with a SessionLog.START event at the first step it will write (`purge_step`): TensorBoard
then drops the earlier files' events at that step and later, so a redone step shows once, with
its newest value (tensorboard 2.20 event_accumulator.py _CheckForRestartAndMaybePurge).

Events are queued in memory and written by tensorboardX's own thread; `flush` (every progress
line, and before a final checkpoint upload) puts them on disk, so a step costs no file I/O.
"""

from __future__ import annotations

from pathlib import Path

DIR = "tensorboard"

# metrics.jsonl record kind -> {field: TensorBoard tag}
TAGS: dict[str, dict[str, str]] = {
    "train": {
        "loss": "train/loss",
        "lr": "train/learning_rate",
        "grad_norm": "train/grad_norm",
        "step_time": "train/step_time_s",
    },
    "val": {"loss": "val/loss"},
    "progress": {
        "tokens_per_s": "perf/tokens_per_s",
        "tokens_per_s_per_device": "perf/tokens_per_s_per_device",
        "tflops_per_device": "perf/tflops_per_device",
        "mfu": "perf/mfu",
        "data_share": "perf/data_wait_share",
        "peak_mem_gib": "perf/peak_memory_gib",
    },
}


def directory(out_dir: str | Path) -> Path:
    return Path(out_dir) / DIR


class TensorBoardLog:
    """Scalars of rank 0's metrics records; a no-op when disabled (other ranks, or turned off)."""

    def __init__(self, out_dir: str | Path, first_step: int, enabled: bool):
        self.writer = None
        if enabled:
            from tensorboardX import SummaryWriter  # only where it is used (0.16 s of import)

            # flush_secs: the writer thread flushes at most this often by itself; `flush` does
            # it at every progress line anyway.
            # The file is named by the second and host it starts at; the suffix keeps two starts
            # within one second apart (the second would overwrite the first) and in order.
            self.writer = SummaryWriter(
                str(directory(out_dir)),
                purge_step=first_step,
                flush_secs=60,
                filename_suffix=f".start{first_step:08d}",
            )

    def record(self, record: dict) -> None:
        """The scalars of one metrics.jsonl record (kinds without a step, the summary: none)."""
        if self.writer is None or record.get("step") is None:
            return
        for field, tag in TAGS.get(record.get("kind", ""), {}).items():
            value = record.get(field)
            if value is not None:
                self.writer.add_scalar(tag, float(value), record["step"])

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
