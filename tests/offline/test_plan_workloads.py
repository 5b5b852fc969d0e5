"""A job with a workload of its own through the whole offline plan: the efa stack's VERL RayJob
is declared, validated against the RayJob CRD, shown in the job table, and its image passes the
policy pack only because `image.allowedRepositories` lists its repository."""

from __future__ import annotations

import shlex

import pytest
from test_plan_jobs import job_table, jobs_of, plan

import policies
from components.config import ConfigError
from trainstack.offline import plan as offline_plan
from trainstack.offline import plan_report

VERL_REPO = "123456789012.dkr.ecr.us-west-2.amazonaws.com/verl"


def image_violations(result, allowed: list[str]) -> list:
    found = policies.check_plan(
        result.plan.resources, {"job-images-from-ecr": {"allowedRepositories": allowed}}
    )
    return [v for v in found if v.rule == "job-images-from-ecr"]


@pytest.mark.usefixtures("pinned_crds")
def test_efa_plan_declares_the_verl_rayjob_valid_and_within_policy():
    result = plan("efa")
    verl = result.config.training_jobs["verl-grpo"]
    manifest = jobs_of(result)["verl-grpo"]
    assert manifest["kind"] == "RayJob" and not result.crds.is_missing("ray.io", "RayJob")
    assert result.schema_errors == {} and result.mandatory_violations == []
    assert manifest["spec"]["entrypoint"] == verl.entrypoint
    head = manifest["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    assert head["containers"][0]["image"] == verl.image
    # The trainer job of the same stack keeps the stack's own image and uploads checkpoints
    # to the artifacts bucket the program created (an Output, resolved in the manifest).
    bucket = result.plan.outputs["artifactsBucket"]
    trainer = jobs_of(result)["llama-8b"]["spec"]["pytorchReplicaSpecs"]["Worker"]
    cmd = trainer["template"]["spec"]["containers"][0]["command"]
    assert cmd[cmd.index("--checkpoint.upload") + 1] == f"s3://{bucket}/checkpoints/llama-8b"


def test_pack_refuses_the_job_image_unless_its_repository_is_allowed():
    result = plan("efa")
    allowed = offline_plan.allowed_repositories(result.plan, result.config)
    assert VERL_REPO in allowed and image_violations(result, allowed) == []
    own = [r for r in allowed if r != VERL_REPO]
    refused = image_violations(result, own)
    assert refused and {v.resource for v in refused} == {"verl-grpo"}
    assert all(v.mandatory and "verl@sha256:" in v.message for v in refused)


def test_plan_refuses_a_job_image_from_a_repository_not_listed():
    with pytest.raises(ConfigError) as e:
        plan("efa", **{"trainstack:image__allowedRepositories": []})
    assert any(
        i.startswith("trainstack:trainingJobs.verl-grpo.image") and "allowedRepositories" in i
        for i in e.value.issues
    ), e.value.issues


def test_job_table_shows_what_a_foreign_job_runs():
    result = plan("efa")
    lines = plan_report.summary(result).splitlines()
    row = job_table(lines)["verl-grpo"]
    assert (row["kind"], row["preset"], row["EFA"]) == ("RayJob", "-", "yes")
    assert job_table(lines)["llama-8b"]["preset"] == "llama3-8b"
    (line,) = [x for x in lines if x.startswith("  verl-grpo: runs its own")]
    verl = result.config.training_jobs["verl-grpo"]
    assert "entrypoint `python3 -m verl.trainer.main_ppo" in line
    assert f"in {verl.image}, Ray {verl.ray_version}" in line
    assert shlex.split(verl.entrypoint)[0] == "python3"
