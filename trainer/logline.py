"""The trainer's own log lines: written here by the trainer, read back here by `trainstack status`
and `trainstack logs`, so the format has one home.

Stdlib only: the CLI imports this module without torch. Parsing searches rather than matches at
the start, and drops colour codes first, because the lines arrive behind prefixes the trainer did
not write: torchrun --tee's `[default0]:`, Ray's `(RayTrainWorker pid=..)` in colour, log shippers'
timestamps.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def emit(line: str) -> None:
    """One line to stdout in a single write: print() writes the text and the newline apart, and
    the checkpoint commit and S3 upload threads print too, so their line could land in between."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NUM = r"[-+]?[\d,]*\.?\d+(?:[eE][-+]?\d+)?"


def format_duration(seconds: float) -> str:
    """H:MM:SS, or `?` while the rate is unknown."""
    if not math.isfinite(seconds):
        return "?"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def parse_duration(text: str) -> float:
    """format_duration's text back in seconds; nan for `?` or anything else."""
    parts = text.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return math.nan
    h, m, s = (int(p) for p in parts)
    return float(h * 3600 + m * 60 + s)


def _loss(text: str) -> float | None:
    try:
        return float(text)  # `nan` and `inf` included: a diverged run prints them
    except ValueError:
        return None


@dataclass(frozen=True)
class Progress:
    """Recorder.log's line, rank 0 every metrics.log_interval steps. Throughput is over the steps
    since the previous line; mfu and data_share are fractions (printed as percentages); eta_s is
    nan while unknown. Fields a line lacks read back as None (an older or newer trainer may print
    fewer), and segments this parser does not know are skipped."""

    step: int
    max_steps: int
    loss: float | None
    tokens_per_s: float | None = None
    tokens_per_s_per_device: float | None = None
    tflops_per_device: float | None = None
    mfu: float | None = None
    data_share: float | None = None
    mem_gib: float | None = None
    eta_s: float | None = None
    # "measured": MFU is against a matmul rate measured on this machine (a CPU, or a GPU
    # trainer/gpu_peaks.py does not list), not a datasheet figure. Its own segment, after MFU,
    # so a reader that predates it skips it and still reads the MFU.
    mfu_peak: str | None = None

    def format(self) -> str:
        # The step is padded to the width of max_steps so the columns stay put as it grows.
        loss = "?" if self.loss is None else f"{self.loss:.4f}"
        parts = [f"step {self.step:>{len(str(self.max_steps))}}/{self.max_steps}", f"loss {loss}"]
        if self.tokens_per_s is not None:
            per_dev = self.tokens_per_s_per_device
            parts.append(
                f"{self.tokens_per_s:,.0f} tok/s"
                + (f" ({per_dev:,.0f}/dev)" if per_dev is not None else "")
            )
        if self.tflops_per_device is not None:
            parts.append(f"{self.tflops_per_device:.3g} TFLOP/s/dev")
        if self.mfu is not None:
            parts.append(f"MFU {100 * self.mfu:.1f}%")
        if self.mfu_peak is not None:
            parts.append(f"{self.mfu_peak} peak")
        if self.data_share is not None:
            parts.append(f"data {100 * self.data_share:.0f}%")
        if self.mem_gib is not None:
            parts.append(f"mem {self.mem_gib:.2f} GiB")
        if self.eta_s is not None:
            parts.append(f"ETA {format_duration(self.eta_s)}")
        return " | ".join(parts)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _percent(text: str) -> float:
    return float(text) / 100


# The segments after `step N/M | loss L`, as Progress.format writes them: each regex's groups are
# Progress fields, read back by the function beside it.
_PROGRESS_HEAD = re.compile(
    r"\bstep\s+(?P<step>\d+)/(?P<max_steps>\d+)\s*\|\s*loss\s+(?P<loss>\S+)"
)
_PROGRESS_SEGMENTS = (
    (
        re.compile(
            rf"(?P<tokens_per_s>{_NUM}) tok/s(?: \((?P<tokens_per_s_per_device>{_NUM})/dev\))?"
        ),
        _number,
    ),
    (re.compile(rf"(?P<tflops_per_device>{_NUM}) TFLOP/s/dev"), _number),
    (re.compile(rf"MFU (?P<mfu>{_NUM})%"), _percent),
    (re.compile(r"(?P<mfu_peak>measured) peak"), str),
    (re.compile(rf"data (?P<data_share>{_NUM})%"), _percent),
    (re.compile(rf"mem (?P<mem_gib>{_NUM}) GiB"), _number),
    (re.compile(r"ETA (?P<eta_s>\S+)"), parse_duration),
)


def _parse_progress(line: str) -> Progress | None:
    m = _PROGRESS_HEAD.search(line)
    if not m:
        return None
    fields: dict = {}
    for segment in line[m.end() :].split("|")[1:]:
        segment = segment.strip()
        for pattern, read in _PROGRESS_SEGMENTS:
            if sm := pattern.fullmatch(segment):
                fields.update({k: read(v) for k, v in sm.groupdict().items() if v is not None})
                break
    return Progress(int(m["step"]), int(m["max_steps"]), _loss(m["loss"]), **fields)


@dataclass(frozen=True)
class Validation:
    """train.py's validate(): rank 0 after each metrics.val_interval steps and at the end."""

    step: int
    loss: float

    def format(self) -> str:
        return f"step {self.step} | validation loss {self.loss:.4f}"


_VALIDATION = re.compile(r"\bstep (?P<step>\d+) \| validation loss (?P<loss>\S+)")


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint saved: `path` is its directory, named checkpoint.step_name(step)."""

    step: int
    path: str

    def format(self) -> str:
        return f"trainer: checkpoint {self.path}"


# The step is read from the directory's name (checkpoint.step_name: `step_NNNNNNNN`), the last
# thing on the line.
_CHECKPOINT = re.compile(r"trainer: checkpoint (?P<path>.*step_(?P<step>\d+))\s*$")


@dataclass(frozen=True)
class Resumed:
    """The run continues from a checkpoint written by world_size ranks: a restarted container's
    log starts here."""

    step: int
    path: str
    world_size: int

    def format(self) -> str:
        return (
            f"trainer: resumed from {self.path} (step {self.step}, written by "
            f"{self.world_size} rank(s))"
        )


_RESUMED = re.compile(
    r"trainer: resumed from (?P<path>.+?) \(step (?P<step>\d+), written by (?P<world_size>\d+) "
    r"rank\(s\)\)"
)


@dataclass(frozen=True)
class SigtermSaved:
    """SIGTERM (a spot reclaim, a deleted job) stopped the run after saving `step`."""

    step: int

    def format(self) -> str:
        return f"trainer: SIGTERM: saved step {self.step}; exiting so a restart resumes here"


_SIGTERM_SAVED = re.compile(r"trainer: SIGTERM: saved step (?P<step>\d+)")

Line = Progress | Validation | Checkpoint | Resumed | SigtermSaved


def parse(line: str) -> Line | None:
    """The trainer's line this is, or None for any other line (NCCL, torch, Ray, the trainer's
    free-text lines)."""
    line = _ANSI.sub("", line)
    if progress := _parse_progress(line):
        return progress
    if m := _VALIDATION.search(line):
        loss = _loss(m["loss"])
        return Validation(int(m["step"]), math.nan if loss is None else loss)
    if m := _CHECKPOINT.search(line):
        return Checkpoint(int(m["step"]), m["path"])
    if m := _RESUMED.search(line):
        return Resumed(int(m["step"]), m["path"], int(m["world_size"]))
    if m := _SIGTERM_SAVED.search(line):
        return SigtermSaved(int(m["step"]))
    return None


def newest_progress(lines: Sequence[str]) -> Progress | None:
    """The last progress line of a log."""
    for line in reversed(lines):
        if isinstance(parsed := parse(line), Progress):
            return parsed
    return None


def newest_checkpoint(lines: Iterable[str]) -> tuple[int, str | None] | None:
    """The highest checkpoint step the log mentions, with its path when a line names one (the
    SIGTERM line does not; the checkpoint line of the same step, before it, does). A restarted
    container's log starts with `resumed from`, so the current log is enough."""
    best: tuple[int, str | None] | None = None
    for line in lines:
        parsed = parse(line)
        if not isinstance(parsed, (Checkpoint, Resumed, SigtermSaved)):
            continue
        step, path = parsed.step, getattr(parsed, "path", None)
        if best is None or step > best[0] or (step == best[0] and path):
            best = (step, path or (best[1] if best and best[0] == step else None))
    return best
