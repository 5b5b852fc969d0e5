"""The alarm rules offline: the hung-job rule (jobwatch/progress.py) and the restart-loop rule
(jobwatch/restart_loop.py), each fed a recorded series that fires it and one that does not."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from jobwatch import alarms, progress, restart_loop
from jobwatch.progress import HungRule
from jobwatch.restart_loop import LoopRule
from trainer import logline

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc).timestamp()
RULE = HungRule(factor=10, floor_s=600)


def stamped(t: float, line: str) -> str:
    """A line as the pods/log subresource returns it with timestamps=true (RFC 3339, ns)."""
    when = datetime.fromtimestamp(T0 + t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return f"{when}123Z {line}"


def step_line(step: int) -> str:
    """The trainer's own progress line, behind torchrun's prefix."""
    return "[default0]:" + logline.Progress(step, 1000, 2.5, 1234.0, mfu=0.4, eta_s=60).format()


# Rank 0 of a job with 2 s steps, a line every 10 steps, a validation after step 100 that took
# 5 minutes and a checkpoint save after step 200 that took 8 minutes; then step 300, the last.
RECORDED = [stamped(-60, "init-from: hf://org/model: 1.20 GB of 4.00 GB")]
t = 0.0
for s in range(10, 301, 10):
    RECORDED.append(stamped(t, step_line(s)))
    t += 20.0
    if s == 100:
        t += 300
        RECORDED.append(stamped(t - 1, logline.Validation(100, 2.4).format()))
    if s == 200:
        t += 480
        RECORDED.append(stamped(t - 1, logline.Checkpoint(200, "/ckpt/step_00000200").format()))
    RECORDED.append(stamped(t - 10, "NCCL INFO comm 0x55 rank 0 nranks 16 - Init COMPLETE"))
LAST = t - 20.0  # when step 300 was printed
SERIES = progress.read_series("\n".join(RECORDED))


def test_the_trainers_own_lines_are_read_as_steps_pauses_and_signs_of_life():
    assert [p.step for p in SERIES.points] == list(range(10, 301, 10))
    assert SERIES.points[0].t == pytest.approx(T0, abs=1e-3)
    assert len(SERIES.pauses) == 2  # the validation and the checkpoint lines
    assert len(SERIES.alive) == 3  # and the download's line


def test_a_job_silent_past_the_limit_is_hung():
    # Two longest pauses (8 min) and more than 10 lines of 20 s and the 10-minute floor: 16 min.
    v = progress.judge(SERIES, T0 + LAST + 17 * 60, RULE)
    assert v.state == "hung" and v.step == 300
    assert v.step_time_s == pytest.approx(2.0) and v.line_s == pytest.approx(20.0)
    assert v.limit_s == pytest.approx(960.0)


def test_a_job_inside_a_pause_as_long_as_its_log_has_seen_is_not_hung():
    assert progress.judge(SERIES, T0 + LAST + 15 * 60, RULE).state == "slow"
    assert progress.judge(SERIES, T0 + LAST + 30, RULE).state == "fine"


def test_without_pauses_in_the_log_the_floor_holds_then_n_times_the_step_time():
    lines = [stamped(20.0 * i, step_line(10 * (i + 1))) for i in range(8)]
    series = progress.read_series("\n".join(lines))
    last = T0 + 140
    assert progress.judge(series, last + 599, RULE).state == "slow"
    assert progress.judge(series, last + 601, RULE).state == "hung"
    fast_floor = HungRule(factor=10, floor_s=1)
    assert progress.judge(series, last + 199, fast_floor).state == "slow"
    assert progress.judge(series, last + 201, fast_floor).state == "hung"


def test_a_job_whose_steps_slow_down_is_slow_not_hung():
    times = [0, 20, 40, 60, 80, 300, 520]  # the last two lines took 11 x longer
    lines = [stamped(t, step_line(10 * (i + 1))) for i, t in enumerate(times)]
    v = progress.judge(progress.read_series("\n".join(lines)), T0 + 530, RULE)
    assert v.state == "slow"


@pytest.mark.parametrize(
    "lines",
    [
        [],  # nothing printed yet
        [stamped(0, "init-from: hf://org/model: 1.20 GB of 4.00 GB")],  # a model download
        [stamped(0, logline.Resumed(400, "/ckpt/step_00000400", 8).format())],  # restored
        [stamped(0, step_line(410))],  # the first step line only: no step time yet
    ],
    ids=["nothing", "downloading", "restored", "first-line"],
)
def test_a_job_before_its_second_step_line_is_starting_never_hung(lines):
    v = progress.judge(progress.read_series("\n".join(lines)), T0 + 86400, RULE)
    assert v.state == "starting"


def test_a_resume_from_an_older_step_starts_a_new_series():
    old = [stamped(20.0 * i, step_line(500 + 10 * i)) for i in range(5)]
    new = [stamped(2000, step_line(410))]  # the container restarted and resumed at step 400
    v = progress.judge(progress.read_series("\n".join(old + new)), T0 + 86400, RULE)
    assert v.state == "starting" and v.step == 410


# A 2-pod job whose pods failed together at minute 0, 10 and 21 (ranks dying with their peer,
# seconds apart), then again at minute 33; the same job earlier once a day.
LOOPING = [0, 4, 600, 602, 1260, 1980]
SPORADIC = [0, 5, 86400, 86410]


def test_restarts_within_the_window_are_a_loop_and_told_once_per_window():
    rule = LoopRule(count=3, window_s=3600)
    assert restart_loop.restarts([T0 + t for t in LOOPING], rule.same_s) == [
        T0 + t for t in (0, 600, 1260, 1980)
    ]
    first = restart_loop.judge([T0 + t for t in LOOPING[:5]], T0 + 1300, rule)
    assert first is not None and len(first.restarts) == 3
    again = restart_loop.judge([T0 + t for t in LOOPING], T0 + 2000, rule)
    assert again is not None and again.key != first.key
    assert again.covered([first.key, "Restarting#abc@1"])  # the loop is still the one told
    # An hour after: the window holds only restarts after the message; a new loop is told anew.
    later = restart_loop.Loop((T0 + 3700, T0 + 4300, T0 + 4900))
    assert not later.covered([first.key])


def test_a_restart_now_and_then_is_no_loop():
    rule = LoopRule(count=3, window_s=3600)
    assert restart_loop.judge([T0 + t for t in SPORADIC], T0 + 86420, rule) is None
    assert restart_loop.judge([T0 + t for t in LOOPING[:4]], T0 + 700, rule) is None


def test_settings_come_from_the_environment_and_a_bad_value_names_its_variable():
    got = alarms.Settings.from_env(
        {"JOBWATCH_HUNG_FACTOR": "4", "JOBWATCH_HUNG_FLOOR_S": "120", "JOBWATCH_LOOP_RESTARTS": "5"}
    )
    assert (got.hung.factor, got.hung.floor_s, got.loop.count) == (4.0, 120.0, 5)
    assert got.loop.window_s == LoopRule().window_s
    with pytest.raises(ValueError, match="JOBWATCH_LOOP_WINDOW_S='soon'"):
        alarms.Settings.from_env({"JOBWATCH_LOOP_WINDOW_S": "soon"})


@pytest.mark.parametrize(
    ("annotation", "factor"),
    [("60", 60.0), ("2.5", 2.5), (None, 10.0), ("ten", 10.0), ("-3", 10.0), ("nan", 10.0)],
)
def test_a_jobs_own_factor_replaces_the_stacks_unless_it_is_no_positive_number(annotation, factor):
    meta = {"name": "j"} if annotation is None else {
        "name": "j", "annotations": {alarms.HUNG_FACTOR_ANNOTATION: annotation}}  # fmt: skip
    rule = alarms.hung_rule({"metadata": meta}, RULE)
    assert rule == HungRule(factor=factor, floor_s=RULE.floor_s)
    # The recorded series, 17 min after step 300: hung by factor 10 (limit 16 min), not by 60.
    state = progress.judge(SERIES, T0 + LAST + 17 * 60, rule).state
    assert state == ("slow" if factor == 60 else "hung")
