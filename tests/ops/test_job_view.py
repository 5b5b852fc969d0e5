"""What `status` and `logs` draw (trainstack/ops/job_view.py): the trainer's own lines as read,
the progress bar, the log stream on a terminal and elsewhere, each pod's problem."""

from __future__ import annotations

import io

import pytest
from jobs_support import JOB, FakeTty, oom_killed_worker, pod
from kubernetes import client as k8s

from trainer import logline
from trainstack.ops import job_view


def recorded_step_line(tmp_path, step=20, total=200, loss=3.14159):
    """The line trainer/metrics.py prints, produced by the trainer's own Recorder."""
    torch = pytest.importorskip("torch")
    from trainer import metrics

    rec = metrics.Recorder(
        str(tmp_path), total, flops_per_token=6e6, peak=100.0, world=4, enabled=False
    )
    for s in range(1, step + 1):
        rec.step(s, loss, 1e-4, 1.0, step_time=0.5, data_time=0.01, tokens=8192)
    return rec.log(step, loss, torch.device("cpu"))


def test_step_line_of_the_trainer_parses(tmp_path):
    line = recorded_step_line(tmp_path)
    assert line.startswith("step  20/200 | loss 3.1416 |")
    info = logline.parse(line)
    assert info.step == 20 and info.max_steps == 200
    assert info.loss == pytest.approx(3.1416)
    assert info.tokens_per_s == pytest.approx(16384, rel=1e-3)
    assert info.mfu is not None and logline.format_duration(info.eta_s) == "0:01:30"
    # torchrun --tee prefixes each line with its rank; the line is still recognised.
    assert logline.parse("[default0]:" + line).step == 20


@pytest.mark.parametrize(
    "line",
    [
        "step 20 | validation loss 3.1000",  # no step/total: the validation line passes through
        "trainer: checkpoint /checkpoints/llm/checkpoints/step_00000020",
        "NCCL INFO Channel 00/02 : 0[0] -> 1[1] via P2P/IPC",
        "",
    ],
)
def test_other_lines_are_not_steps(line):
    assert not isinstance(logline.parse(line), logline.Progress)


def test_nan_loss_and_minimal_line():
    info = logline.parse("step 5/10 | loss nan | ETA ?")
    assert info.loss != info.loss and info.tokens_per_s is None
    assert logline.format_duration(info.eta_s) == "?"


def test_newest_checkpoint_from_log_lines():
    from trainer.checkpoint import step_name

    root = f"/checkpoints/{JOB}/checkpoints"
    lines = [
        f"trainer: resumed from {root}/{step_name(100)} (step 100, written by 8 rank(s))",
        "step 150/400 | loss 2.0 | ETA 0:10:00",
        f"trainer: checkpoint {root}/{step_name(200)}",
        "trainer: SIGTERM: saved step 230; exiting so a restart resumes here",
        f"trainer: checkpoint {root}/{step_name(230)}",
    ]
    assert logline.newest_checkpoint(lines) == (230, f"{root}/step_00000230")
    assert logline.newest_checkpoint(lines[:4]) == (230, None)  # the SIGTERM line has no path
    assert logline.newest_checkpoint(lines[:2]) == (100, f"{root}/step_00000100")
    assert logline.newest_checkpoint(["step 1/2 | loss 1"]) is None


def test_progress_rendering():
    info = logline.Progress(50, 200, 2.5, tokens_per_s=123456.0, eta_s=300.0)
    text = job_view.render_progress(info, width=8)
    assert text == "step 50/200 [##------]  25% | loss 2.5000 | 123,456 tok/s | ETA 0:05:00"
    done = job_view.render_progress(logline.Progress(200, 200, None), width=4)
    assert done == "step 200/200 [####] 100%"


def test_log_view_on_a_terminal_keeps_one_progress_line():
    out = FakeTty()
    view = job_view.LogView(out, tty=True)
    for line in [
        "trainer: preset tiny",
        "step 1/4 | loss 4.0 | ETA 0:00:03",
        "step 2/4 | loss 3.0 | ETA 0:00:02",
        "NCCL WARN something",
        "step 4/4 | loss 2.0 | ETA 0:00:00",
    ]:
        view.feed(line)
    view.close()
    text = out.getvalue()
    assert text.startswith("trainer: preset tiny\n")
    assert "step 1/4 | loss" not in text  # step lines become the bar, not text
    # The other line is printed above the bar, which is redrawn after it.
    assert f"{job_view.LogView.CLEAR}NCCL WARN something\nstep 2/4 [" in text
    assert text.endswith(
        "step 4/4 [" + "#" * job_view.BAR_WIDTH + "] 100% | loss 2.0000 | ETA 0:00:00\n"
    )


def test_log_view_elsewhere_passes_lines_through():
    out = io.StringIO()
    view = job_view.LogView(out, tty=False)
    lines = ["trainer: preset tiny", "step 1/4 | loss 4.0 | ETA 0:00:03", "done"]
    for line in lines:
        view.feed(line + "\n")
    view.close()
    assert out.getvalue() == "\n".join(lines) + "\n"


def test_pod_problems():
    assert job_view.pod_problem(pod("master", 0)) is None
    assert job_view.pod_problem(oom_killed_worker()).startswith("CrashLoopBackOff")
    pull = k8s.V1ContainerState(
        waiting=k8s.V1ContainerStateWaiting(reason="ImagePullBackOff", message="manifest unknown")
    )
    assert (
        job_view.pod_problem(pod("worker", 1, phase="Pending", state=pull))
        == "ImagePullBackOff: manifest unknown"
    )
    unscheduled = pod(
        "worker",
        2,
        phase="Pending",
        node=None,
        conditions=[
            k8s.V1PodCondition(
                type="PodScheduled",
                status="False",
                reason="Unschedulable",
                message="0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
            )
        ],
    )
    assert "Insufficient nvidia.com/gpu" in job_view.pod_problem(unscheduled)
    restarted = pod(
        "worker",
        3,
        restarts=1,
        last_state=k8s.V1ContainerState(
            terminated=k8s.V1ContainerStateTerminated(exit_code=143, reason="Error")
        ),
    )
    assert job_view.pod_problem(restarted) == "restarted 1x, last exit 143 (Error)"
