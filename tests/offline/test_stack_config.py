"""Stack files read as the Pulumi CLI would (trainstack/offline/stack_config.py), and their config
reaching a program under the engine."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pytest

from trainstack.offline.engine import run_program
from trainstack.offline.secrets import is_secret, unwrap_secrets
from trainstack.offline.stack_config import StackFileError, load_stack_config


def test_structured_config_from_stack_file_reaches_program(tmp_path: Path):
    (tmp_path / "Pulumi.dev.yaml").write_text(
        textwrap.dedent("""\
        config:
          aws:region: eu-west-1
          trainstack:nodeGroups:
            gpu-g5: {instanceTypes: [g5.xlarge], maxSize: 2}
          spot: true
          mode: on
        """)
    )
    sc = load_stack_config(tmp_path, "dev")

    def program():
        cfg = pulumi.Config()
        groups = cfg.require_object("nodeGroups")
        pulumi.export("maxSize", groups["gpu-g5"]["maxSize"])
        pulumi.export("spot", cfg.require_bool("spot"))
        pulumi.export("mode", cfg.require("mode"))
        pulumi.export("region", aws.get_region().region)

    plan = run_program(program, config=sc.config, secret_keys=sc.secret_keys)
    assert plan.outputs == {"maxSize": 2, "spot": True, "mode": "on", "region": "eu-west-1"}


def test_stack_file_encoding(tmp_path: Path):
    (tmp_path / "Pulumi.dev.yaml").write_text(
        textwrap.dedent("""\
        encryptionsalt: v1:abc
        config:
          aws:region: us-west-2
          trainstack:cluster:
            name: trainstack-dev
            endpoint: {public: true, cidrs: ["203.0.113.0/24"]}
          retentionDays: 30
          enabled: false
          answer: yes
        """)
    )
    sc = load_stack_config(tmp_path, "dev")
    assert sc.path == tmp_path / "Pulumi.dev.yaml"
    assert sc.secret_keys == []
    assert sc.config == {
        "aws:region": "us-west-2",
        "trainstack:cluster": (
            '{"endpoint":{"cidrs":["203.0.113.0/24"],"public":true},"name":"trainstack-dev"}'
        ),
        "trainstack:retentionDays": "30",
        "trainstack:enabled": "false",
        "trainstack:answer": "yes",  # YAML 1.2, like the CLI: not a boolean
    }


def test_secure_values_are_placeholdered_and_secret(tmp_path: Path):
    (tmp_path / "Pulumi.dev.yaml").write_text(
        textwrap.dedent("""\
        config:
          trainstack:hfToken:
            secure: AAABAKz1cGxhY2Vob2xkZXI=
          trainstack:registry:
            user: bot
            password:
              secure: AAABAHBhc3N3b3Jk
          aws:region: us-west-2
        """)
    )
    sc = load_stack_config(tmp_path, "dev")
    assert sc.config["trainstack:hfToken"] == "offline-secret-hfToken"
    assert json.loads(sc.config["trainstack:registry"]) == {
        "user": "bot",
        "password": "offline-secret-registry.password",
    }
    assert sorted(sc.secret_keys) == ["trainstack:hfToken", "trainstack:registry"]

    def program():
        cfg = pulumi.Config()
        aws.ssm.Parameter("registry", type="SecureString", value=cfg.require("registry"))

    plan = run_program(program, config=sc.config, secret_keys=sc.secret_keys)
    value = plan.one("aws:ssm/parameter:Parameter").inputs["value"]
    assert is_secret(value)
    assert json.loads(unwrap_secrets(value))["password"] == "offline-secret-registry.password"


def test_duplicate_yaml_keys_are_rejected(tmp_path: Path):
    (tmp_path / "Pulumi.dev.yaml").write_text(
        textwrap.dedent("""\
        config:
          aws:region: us-west-2
          trainstack:nodeGroups:
            gpu-g5:
              maxSize: 2
            gpu-g4dn:
              maxSize: 1
            gpu-g5:
              maxSize: 8
        """)
    )
    with pytest.raises(StackFileError) as err:
        load_stack_config(tmp_path, "dev")
    msg = str(err.value)
    assert "Pulumi.dev.yaml" in msg
    assert "trainstack:nodeGroups.gpu-g5" in msg
    assert "line 8" in msg and "line 4" in msg


def test_duplicate_after_namespacing_and_nested_in_lists(tmp_path: Path):
    (tmp_path / "Pulumi.a.yaml").write_text("config:\n  cluster: x\n  trainstack:cluster: y\n")
    with pytest.raises(StackFileError, match="trainstack:cluster"):
        load_stack_config(tmp_path, "a")
    (tmp_path / "Pulumi.b.yaml").write_text(
        "config:\n  trainstack:pools:\n    - name: a\n      name: b\n"
    )
    with pytest.raises(StackFileError, match=r"trainstack:pools\[0\]\.name.*line 4"):
        load_stack_config(tmp_path, "b")


def test_missing_stack_file_lists_existing_stacks(tmp_path: Path):
    for stack in ("dev", "efa"):
        (tmp_path / f"Pulumi.{stack}.yaml").write_text("config: {}\n")
    with pytest.raises(StackFileError) as err:
        load_stack_config(tmp_path, "prod")
    msg = str(err.value)
    assert "Pulumi.prod.yaml" in msg and "dev, efa" in msg
