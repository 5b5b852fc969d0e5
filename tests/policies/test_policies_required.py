"""What the pack requires and the stack config agree (policies/required.py): the IMDS hop
limit and the control-plane log types have one source, and config refuses what the pack would
block."""

from __future__ import annotations

import pytest
from support import project_copy, stack_data

from components import cluster, config, karpenter
from policies import BY_NAME, required
from trainstack import cli


def test_hop_limit_has_one_source_of_truth():
    assert required.IMDS_HOP_LIMIT == 1
    assert cluster.IMDS_HOP_LIMIT is karpenter.IMDS_HOP_LIMIT is required.IMDS_HOP_LIMIT
    assert BY_NAME["imds-hop-limit"].defaults()["hopLimit"] == required.IMDS_HOP_LIMIT


# -------------------------------------------------------------------- config agrees with pack


def test_log_types_the_pack_requires_are_the_config_default():
    assert BY_NAME["eks-control-plane-logging"].defaults()["requiredLogTypes"] == list(
        required.REQUIRED_LOG_TYPES
    )
    parsed = config.parse(*stack_data("dev"))
    assert set(required.REQUIRED_LOG_TYPES) <= set(parsed.cluster.log_types)


@pytest.mark.parametrize(
    "log_types,missing",
    [
        (["api"], "audit, authenticator"),
        ([], "api, audit, authenticator"),
        (["api", "audit", "scheduler"], "authenticator"),
    ],
)
def test_config_refuses_log_types_the_pack_would_block(log_types, missing):
    data, region = stack_data("dev")
    data["cluster"]["logTypes"] = log_types
    with pytest.raises(
        config.ConfigError,
        match=rf"trainstack:cluster\.logTypes = .*missing "
        rf"{missing}$",
    ):
        config.parse(data, region)


def test_config_accepts_extra_log_types():
    data, region = stack_data("dev")
    data["cluster"]["logTypes"] = ["api", "audit", "authenticator", "scheduler"]
    assert config.parse(data, region).cluster.log_types[-1] == "scheduler"


def test_plan_exits_2_for_log_types_the_pack_would_block(tmp_path, capsys):
    def edit(cfg):
        cfg["trainstack:cluster"]["logTypes"] = ["api"]

    root = project_copy(tmp_path, edit)
    assert cli.main(["--project-dir", str(root), "plan", "--stack", "bad"]) == 2
    assert "trainstack:cluster.logTypes" in capsys.readouterr().err


@pytest.mark.parametrize(
    "env_name", ["OPENAI_KEY", "GOOGLE_APPLICATION_CREDENTIALS", "WANDB_APIKEY"]
)
def test_config_refuses_env_names_the_pack_treats_as_credentials(env_name):
    data, region = stack_data("dev")
    job = next(iter(data["trainingJobs"]))
    data["trainingJobs"][job]["env"] = {env_name: "x"}
    with pytest.raises(
        config.ConfigError,
        match=rf"trainstack:trainingJobs\.{job}\.env\."
        rf"{env_name}: looks like a secret",
    ):
        config.parse(data, region)
