"""docs/training-jobs.md "From a hub model to a served model" as the stack reads it: its job and
its server, added to the dev stack, pass the stack's config checks, and the job's rendered
command is a trainer command line that starts from the hub model on the bucket's JSONL."""

from __future__ import annotations

import re

import yaml
from job_support import pod_of, render_job
from support import ROOT, stack_data

from components import config
from trainer import config as trainer_config

BUCKET = "trainstack-dev-artifacts-1a2b3c"
SECTION = "## From a hub model to a served model"


def _walkthrough_yaml() -> dict:
    text = (ROOT / "docs" / "training-jobs.md").read_text()
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", len(SECTION))]
    out: dict = {}
    for block in re.findall(r"```yaml\n(.*?)```", section, re.S):
        out |= yaml.safe_load(block.replace("<artifactsBucket>", BUCKET))
    return {k.split(":", 1)[1]: v for k, v in out.items()}


def test_the_walkthroughs_job_and_server_are_a_valid_stack():
    data, _ = stack_data("dev")
    added = _walkthrough_yaml()
    assert set(added) == {"trainingJobs", "servingJobs"}
    data |= added | {"hfToken": "hf_test", "dockerHubUser": "u", "dockerHubToken": "dckr_pat_x"}
    cfg = config.parse(data)
    assert cfg.serving_jobs["llama-1b-sft"].replicas == 1

    command = pod_of(render_job(cfg, "llama-1b-sft", BUCKET))["containers"][0]["command"]
    args = trainer_config.from_args(command[command.index("trainer") + 1 :])
    assert args.model.init_from == "hf://meta-llama/Llama-3.2-1B"
    assert (args.data.format, args.data.path) == ("prompt_response", f"s3://{BUCKET}/data/sft/")
    assert args.checkpoint.upload  # so the run's end exports to the bucket's models/
