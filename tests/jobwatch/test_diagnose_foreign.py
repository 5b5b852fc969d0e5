"""Exit codes of a workload of its own (components/config/job_runs.py): 2, 3 and 4 are the
trainer's and trainer.launch's codes (trainer/exit_codes.py) only in a container that runs
them. The pods are the ones components/training_job.py renders for each kind of job, so the
classifier follows what the stack actually runs."""

from __future__ import annotations

import copy

import pytest
from diagnose_support import crashed
from job_support import pod_of, rendered

from components.job_command import efa_checked
from jobwatch.diagnose import classify

VERL_REPO = "123456789012.dkr.ecr.us-west-2.amazonaws.com/verl"
OWN_IMAGE = f"{VERL_REPO}@sha256:" + "cd" * 32
OWN_COMMAND = {"command": ["train.py", "--lr", "1e-4"], "preset": None}
ALLOWED = {"image": {"allowedRepositories": [VERL_REPO]}}


def job_pod(spec: dict, code: int) -> dict:
    """The Master pod of a rendered PyTorchJob after its container exited `code`."""
    return {
        "metadata": {"name": "j-master-0", "namespace": "training"},
        "spec": copy.deepcopy(spec),
        "status": {"phase": "Failed", "containerStatuses": [crashed("Error", code)]},
    }


def trainer_spec() -> dict:
    return pod_of(rendered("j"))


def own_command_spec() -> dict:
    return pod_of(rendered("j", **OWN_COMMAND))


def own_image_spec() -> dict:
    return pod_of(rendered("j", secrets=ALLOWED, image=OWN_IMAGE, **OWN_COMMAND))


@pytest.mark.parametrize("code", [2, 3, 4])
def test_the_trainers_own_codes_keep_their_meaning(code):
    [cause] = classify([job_pod(trainer_spec(), code)], [], "")
    assert cause.code == "PERMANENT_EXIT" and "failed at once" in cause.summary
    # Behind the EFA check (`/bin/sh -c '... && exec "$@"' sh <command>`) too.
    spec = trainer_spec()
    spec["containers"][0]["command"] = efa_checked(spec["containers"][0]["command"])
    assert [c.code for c in classify([job_pod(spec, code)], [], "")] == ["PERMANENT_EXIT"]


@pytest.mark.parametrize("code", [2, 3])
def test_a_script_of_its_own_under_trainer_launch_is_described_by_what_launch_does(code):
    """trainer.launch passes a rank's 2, 3 and 4 on (trainer/exit_codes.py pod_code): the job
    failed at once because the user's script exited so, not for the trainer's reason."""
    [cause] = classify([job_pod(own_command_spec(), code)], [], "")
    assert cause.code == "CONTAINER_FAILED"
    assert f"the workload exited {code}" in cause.summary
    assert "configuration" not in cause.summary and "non-finite" not in cause.summary
    assert "1-127 fails the job at once" in cause.remedy
    assert "exit with another code" in cause.remedy


def test_trainer_launchs_crash_loop_exit_applies_to_a_script_of_its_own_too():
    """trainer.launch counts the crash loop whatever script it runs (job_command.py)."""
    [cause] = classify([job_pod(own_command_spec(), 4)], [], "")
    assert cause.code == "PERMANENT_EXIT" and "backoffLimit" in cause.summary


@pytest.mark.parametrize("code", [1, 2, 3, 4])
def test_an_image_of_its_own_runs_plain_torchrun_whose_exit_fails_the_job_at_once(code):
    """torchrun exits 1 for any failed worker (torch/distributed/run.py): under ExitCode the
    job fails without a restart, and the remedy says so and how to get restarts."""
    spec = own_image_spec()
    assert spec["containers"][0]["command"][0] == "torchrun"
    [cause] = classify([job_pod(spec, code)], [], "")
    assert cause.code == "CONTAINER_FAILED" and f"the workload exited {code}" in cause.summary
    assert "plain torchrun, which exits 1" in cause.remedy
    assert "trainstack:trainingJobs.<job>.image unset" in cause.remedy


def test_a_container_whose_command_is_unknown_gets_no_trainer_meaning():
    """A bare status (no spec) may come from any program: its 2 is not the trainer's."""
    status = {"containerStatuses": [crashed("Error", 2)]}
    [cause] = classify([status], [], "")
    assert cause.code == "CONTAINER_FAILED" and "the workload exited 2" in cause.summary
