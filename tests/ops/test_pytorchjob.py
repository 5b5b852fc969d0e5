"""A PyTorchJob as `status` shows it (trainstack/ops/pytorchjob.py): rank 0's pod, the state and
the status text on recorded job dicts and V1Pod models."""

from __future__ import annotations

from jobs_support import FAILED, JOB, NS, RUNNING, RecordedCause, oom_killed_worker, pod, pytorchjob

from trainer import logline
from trainstack.ops import jobs
from trainstack.ops import pytorchjob as pytorch


def test_rank0_pod_of_fixed_and_elastic_jobs():
    assert pytorch.log_pod_name(RUNNING) == f"{JOB}-master-0"
    assert pytorch.log_pod_name(pytorchjob([], {}, elastic=True)) == f"{JOB}-worker-0"


def test_status_of_a_running_job():
    pods = [pod("worker", 0), pod("master", 0)]
    progress = logline.Progress(120, 400, 2.1, tokens_per_s=50000.0, eta_s=1800.0)
    text = pytorch.format_status(
        RUNNING, pods, (100, "/checkpoints/llm/checkpoints/step_00000100"), None, progress
    )
    lines = text.splitlines()
    assert lines[0] == f"PyTorchJob {NS}/{JOB}: Running"
    assert "step 120/400" in lines[1]
    assert lines[2] == "  newest checkpoint: step 100 (/checkpoints/llm/checkpoints/step_00000100)"
    # Latest condition first.
    assert lines[3] == "conditions (latest first):"
    assert "Running=True PyTorchJobRunning" in lines[4] and "Created=True" in lines[5]
    assert "  Master: 1 wanted (active 1)" in lines
    assert lines.index("  Master: 1 wanted (active 1)") < lines.index(
        "  Worker: 1 wanted (active 1)"
    )
    master = next(line for line in lines if "llm-master-0" in line)
    assert "ip-10-0-1-5" in master and "restarts 0" in master and "<-" not in master
    assert "diagnosis" not in text
    assert not jobs.needs_diagnosis(RUNNING, pods)


def test_status_of_a_failed_job_lists_causes():
    pods = [pod("master", 0), oom_killed_worker()]
    assert pytorch.phase(FAILED) == "Failed" and jobs.needs_diagnosis(FAILED, pods)
    causes = [
        RecordedCause(
            "oom",
            "worker 0 ran out of host memory (OOMKilled, exit 137)",
            "raise trainingJobs.llm.memory or lower the batch size",
        )
    ]
    text = pytorch.format_status(FAILED, pods, None, causes)
    lines = text.splitlines()
    assert lines[0] == f"PyTorchJob {NS}/{JOB}: Failed"
    assert "newest checkpoint: none" in lines[1]
    assert "Failed=True PyTorchJobFailed" in lines[3]  # same second as Running: appended later
    worker = next(line for line in lines if "llm-worker-0" in line)
    assert "restarts 4" in worker and "<- CrashLoopBackOff" in worker
    assert "  Worker: 1 wanted (failed 1)" in lines
    assert lines[-3:] == [
        "diagnosis:",
        "  [oom] worker 0 ran out of host memory (OOMKilled, exit 137)",
        "    remedy: raise trainingJobs.llm.memory or lower the batch size",
    ]
    unknown = pytorch.format_status(FAILED, pods, None, [])
    assert "no known cause matched" in unknown


def test_status_without_pods_or_conditions():
    fresh = pytorchjob([], {})
    text = pytorch.format_status(fresh, [], None)
    assert text.splitlines()[0] == f"PyTorchJob {NS}/{JOB}: Pending"
    assert "no pods" in text
