"""Is a running job still making progress? The trainer's step lines in rank 0's log, read with
the API server's timestamps, as a series of (time, step) points, and a pure rule that calls the
job hung, slow or fine. Stdlib only, like the rest of jobwatch's logic.

Why the log and not pod phase or a metric: a rank stuck in a collective (an NCCL all-reduce whose
peer never comes) keeps its pod Running and its process alive; only the step counter stops. The
trainer prints a line every `metrics.log_interval` steps on rank 0 (trainer/logline.py writes
it: `step N/M | loss L | ...`), and the pods/log subresource, which the watcher's Role already
reads for the classifier, returns each line with the time the container wrote it
(`timestamps=true`). So the watcher needs no channel into the pods and no state across polls:
one log tail holds the series.

The rule: with the step time measured from the newest intervals between progress lines, the
job is hung when nothing was printed for longer than `factor` x the time one line takes (the
steps between lines x the step time), and never sooner than `floor_s` nor sooner than twice the
longest pause the log shows (a validation or checkpoint save sits between two step lines and is
followed by its own line: trainer/train.py validate, published). A job whose line is only
overdue by `slow_factor` is slow, not hung, as is one whose newest steps take `slow_factor` x
the earlier ones. Before two step lines there is no step time: the job is starting (its first
step, a model download, a checkpoint restore) and is never called hung.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from datetime import datetime

# The head of the trainer's progress line (trainer/logline.py Progress.format); searched, not
# matched at the start: torchrun's `[default0]:` and Ray's `(RayTrainWorker pid=..)` prefix it.
STEP_RE = re.compile(r"\bstep\s+(?P<step>\d+)/(?P<max>\d+)\s*\|\s*loss\s")
# The trainer's other lines: it is alive and not inside a step (validation, a checkpoint saved or
# restored, a model download's progress from trainer/download_progress.py, start-up).
PAUSE_RE = re.compile(r"\bstep \d+ \| validation loss |\btrainer: checkpoint ")
ALIVE_RE = re.compile(r"\b(trainer|init-from): ")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
RECENT = 5  # intervals the step time is the median of


@dataclass(frozen=True)
class Point:
    t: float  # epoch seconds the line was written
    step: int


@dataclass(frozen=True)
class Series:
    """What rank 0's log tail says: its step lines, and when its other trainer lines came."""

    points: tuple[Point, ...]
    pauses: tuple[float, ...] = ()  # validation and checkpoint lines
    alive: tuple[float, ...] = ()  # every trainer line that is not a step line


def _stamp(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def read_series(log: str) -> Series:
    """A log read with timestamps (`<RFC 3339 time> <line>` per line, as the pods/log
    subresource returns it with timestamps=true) as a Series; unstamped lines are skipped."""
    points, pauses, alive = [], [], []
    for raw in log.splitlines():
        stamp, _, line = raw.partition(" ")
        t = _stamp(stamp)
        if t is None:
            continue
        line = _ANSI.sub("", line)
        if m := STEP_RE.search(line):
            points.append(Point(t, int(m["step"])))
        elif PAUSE_RE.search(line):
            pauses.append(t)
            alive.append(t)
        elif ALIVE_RE.search(line):
            alive.append(t)
    return Series(tuple(points), tuple(pauses), tuple(alive))


@dataclass(frozen=True)
class HungRule:
    factor: float = 10.0  # N: hung after N x the time one progress line takes
    floor_s: float = 600.0  # never sooner: a checkpoint save or evaluation the log has not shown
    slow_factor: float = 3.0


@dataclass(frozen=True)
class Verdict:
    state: str  # "hung", "slow", "fine" or "starting"
    step: int | None = None  # the newest step printed
    quiet_s: float = 0.0  # since the newest trainer line
    step_time_s: float | None = None
    line_s: float | None = None  # the time one progress line takes (steps per line x step time)
    limit_s: float = 0.0  # quiet for longer than this is hung

    def describe(self) -> str:
        if self.state == "starting":
            return "no step time yet (first steps, model download or checkpoint restore)"
        return (
            f"last step {self.step}, no trainer output for {self.quiet_s:.0f} s; recent step "
            f"time {self.step_time_s:.3g} s, a progress line every {self.line_s:.3g} s; hung "
            f"after {self.limit_s:.0f} s"
        )


def judge(series: Series, now: float, rule: HungRule) -> Verdict:
    """The running job's state at `now` from its log's series."""
    points: list[Point] = []
    for p in sorted(series.points, key=lambda p: p.t):
        if not points or p.step > points[-1].step:
            points.append(p)
        elif p.step < points[-1].step:  # a resume from an older checkpoint: a new series
            points = [p]
    if len(points) < 2:
        return Verdict("starting", points[-1].step if points else None)
    steady, paused = [], []
    for a, b in zip(points, points[1:]):
        dt, steps = b.t - a.t, b.step - a.step
        in_pause = any(a.t < t <= b.t for t in series.pauses)
        (paused if in_pause else steady).append((dt, steps))
    measured = (steady or paused)[-RECENT:]
    rates = [dt / steps for dt, steps in measured]
    step_time = statistics.median(rates)
    line_s = step_time * (points[-1].step - points[-2].step)
    longest_pause = max((dt - step_time * steps for dt, steps in paused), default=0.0)
    limit = max(rule.factor * line_s, rule.floor_s, 2 * longest_pause)
    last = max([points[-1].t, *series.alive])
    quiet = max(0.0, now - last)
    verdict = Verdict("fine", points[-1].step, quiet, step_time, line_s, limit)
    if quiet > limit:
        return Verdict("hung", *_fields(verdict))
    earlier = rates[:-1]
    slower = bool(earlier) and rates[-1] > rule.slow_factor * statistics.median(earlier)
    if quiet > rule.slow_factor * line_s or slower:
        return Verdict("slow", *_fields(verdict))
    return verdict


def _fields(v: Verdict) -> tuple:
    return v.step, v.quiet_s, v.step_time_s, v.line_s, v.limit_s
