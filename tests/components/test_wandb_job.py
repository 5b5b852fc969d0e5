"""Weights & Biases for training jobs (components/config/wandb_config.py, components/wandb_env.py):
on only with the stack's key, which reaches the training pods from a Secret; where the runs go
as plain env; config errors naming the key. The plan with the key (the Secret, the env, the
value nowhere) is tests/components/test_trainer_image_component.py's secrets test, its runtime
flows tests/components/test_runtime_flows.py's "full" stack."""

from __future__ import annotations

import pytest
from job_support import SMALL_BATCH, env_of, errors, job, pod_of, rendered, stack

from components import config, job_contracts
from components import runtime_contract as rc
from trainstack.offline import schemas

KEY = {"wandbApiKey": "wandb-test-key"}
SECRET_REF = {"secretKeyRef": {"name": "wandb-api-key", "key": "apiKey"}}
RAY = {"framework": "ray", "nodePool": "large", "gpusPerNode": 4, "args": SMALL_BATCH}


def wandb_env(container: dict) -> dict:
    return {k: v for k, v in env_of(container).items() if k.startswith("WANDB_")}


@pytest.mark.usefixtures("pinned_crds")
def test_a_job_of_a_stack_with_the_key_reads_it_from_the_secret():
    secrets = {**KEY, "wandb": {"project": "llm", "entity": "ml-team"}}
    m = rendered("llama-1b", secrets=secrets)
    assert schemas.validate_object(m, "1.34") == []
    for replica in ("Master", "Worker"):
        assert wandb_env(pod_of(m, replica)["containers"][0]) == {
            "WANDB_API_KEY": SECRET_REF,
            "WANDB_PROJECT": "llm",
            "WANDB_ENTITY": "ml-team",
            "WANDB_RUN_GROUP": "llama-1b",
            "WANDB_NAME": "llama-1b",
        }
    assert "wandb-test-key" not in str(m)
    # Without the key: nothing of W&B, and the project defaults to the cluster's name.
    assert wandb_env(pod_of(rendered())["containers"][0]) == {}
    default = wandb_env(pod_of(rendered(secrets=KEY))["containers"][0])
    assert default["WANDB_PROJECT"] == config.parse(stack()).cluster.name
    assert "WANDB_ENTITY" not in default


def test_in_a_ray_job_only_the_workers_that_train_get_the_key():
    m = rendered(secrets=KEY, **RAY)
    cluster = m["spec"]["rayClusterSpec"]
    (worker,) = cluster["workerGroupSpecs"]
    assert wandb_env(worker["template"]["spec"]["containers"][0])["WANDB_API_KEY"] == SECRET_REF
    head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
    submitter = m["spec"]["submitterPodTemplate"]["spec"]["containers"][0]
    assert wandb_env(head) == wandb_env(submitter) == {}


def test_the_training_pods_wait_for_the_secret_and_reach_https_outside_the_vpc():
    cfg = config.parse(stack(trainingJobs={"j": job(**RAY)}, **KEY))
    setting = job_contracts.JobSetting(None, "10.0.0.0/16", None, wandb=True)
    needs = {c.pods["trainstack.io/role"]: c.needs for c in job_contracts.contracts(
        "j", cfg.training_jobs["j"], setting)}  # fmt: skip
    assert "secret/wandb-api-key" in needs["ray-worker"]
    assert "secret/wandb-api-key" not in needs["ray-head"] + needs["ray-submitter"]
    (pytorch,) = job_contracts.contracts("j", config.parse(stack(
        trainingJobs={"j": job()}, **KEY)).training_jobs["j"], setting)  # fmt: skip
    assert "secret/wandb-api-key" in pytorch.needs
    assert rc.https_outside("10.0.0.0/16") in pytorch.calls  # api.wandb.ai: a public address


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        (
            {"wandb": {"project": "llm"}},
            "trainstack:wandb.project: W&B is off without its key; run `pulumi config set "
            "--secret trainstack:wandbApiKey <your W&B API key>`",
        ),
        (
            {**KEY, "trainingJobs": {"j": job(env={"WANDB_NAME": "mine"})}},
            "trainstack:trainingJobs.j.env.WANDB_NAME: set by the stack",
        ),
        ({**KEY, "wandb": {"project": "a/b"}}, "trainstack:wandb.project = 'a/b'"),
        ({"wandbApiKey": {"not": "a string wandb-leak"}}, "trainstack:wandbApiKey"),
    ],
)
def test_config_errors_name_the_key(sections, expected):
    issues = errors(**sections)
    assert any(i.startswith(expected) for i in issues), issues
    assert not any("wandb-leak" in i for i in issues)  # a secret's value is never echoed


def test_a_job_may_turn_wandb_off_or_set_its_own_without_the_key():
    config.parse(stack(trainingJobs={"j": job(env={"WANDB_MODE": "disabled"})}, **KEY))
    config.parse(stack(trainingJobs={"j": job(env={"WANDB_PROJECT": "own"})}))
