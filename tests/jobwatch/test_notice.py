"""What the watcher notifies for each kind's state (jobwatch/pytorchjob.py, rayjob.py `notice`):
the same key however often a state is read, nothing while running. A PyTorchJob's restart is
only a cue: its incidents are keyed by the failed pods (incidents.py, test_watch_replay.py)."""

from __future__ import annotations

from watch_support import LIFE

from jobwatch import notify, pytorchjob, rayjob


def test_pytorchjob_notices_follow_the_operators_conditions():
    running, restarting, running_again, failed = (pytorchjob.notice(j) for j in LIFE)
    assert running is None and running_again is None
    # Not the condition's lastTransitionTime, which every status update may change.
    assert restarting == "Restarting"
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


def test_a_stopped_rayjob_is_stopped_not_succeeded():
    """KubeRay v1.7.0 rayjob_controller.go: a terminal Ray status (STOPPED, SUCCEEDED or FAILED)
    ends the deployment as Complete unless it is FAILED; STOPPED is only in jobStatus."""
    assert rayjob.notice(ray("Complete", "STOPPED")) == "Stopped"
    assert rayjob.notice(ray("Running", "STOPPED")) is None  # the submitter has not ended yet
    assert notify.event_word("Stopped") == "was stopped"
    text = notify.message("RayJob", "r", "training", "Stopped", None, ["", "Job was stopped"])
    assert text.startswith("RayJob r in namespace training was stopped.")
    assert "succeeded" not in text and "Job was stopped" in text
