"""What the watcher notifies for each kind's state (jobwatch/pytorchjob.py, rayjob.py `notice`):
the same key however often a state is read, a new one per restart, nothing while running."""

from __future__ import annotations

from watch_support import LIFE

from jobwatch import pytorchjob, rayjob


def test_pytorchjob_notices_follow_the_operators_conditions():
    running, restarting, running_again, failed = (pytorchjob.notice(j) for j in LIFE)
    assert running is None and running_again is None
    assert restarting == "Restarting#2026-11-25T09:20:04Z"
    assert failed == "Failed"


def ray(deployment: str, job_status: str = "", failed: int = 0) -> dict:
    return {
        "status": {"jobDeploymentStatus": deployment, "jobStatus": job_status, "failed": failed}
    }


def test_rayjob_notices_follow_kuberays_deployment_status():
    assert rayjob.notice(ray("Running", "RUNNING")) is None
    assert rayjob.notice(ray("Retrying", failed=1)) == "Retrying#1"
    assert rayjob.notice(ray("Retrying", failed=2)) == "Retrying#2"
    assert rayjob.notice(ray("Complete", "SUCCEEDED")) == "Succeeded"
    # Before KubeRay 1.1 a failed Ray job still ended as deployment Complete.
    assert rayjob.notice(ray("Complete", "FAILED")) == "Failed"
    assert rayjob.notice(ray("Failed", "FAILED")) == "Failed"
