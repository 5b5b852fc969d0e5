"""One run through the real SDK (automation/run.py): stack selection, config and secrets, the
operation command lines, progress, failures, and policy violations (exit 3)."""

from __future__ import annotations

import json

import pytest
from automation_support import (  # noqa: F401  (fixtures)
    CLUSTER_URN,
    LOG,
    SECRET_SET,
    FakePulumi,
    cfg,
    drive,
    no_real_cli,
    plan_events,
    policy,
    project_fixture,
)
from pulumi.automation import CommandResult

from automation import EXIT_FAILED, EXIT_OK, EXIT_POLICY


def test_preview_selects_stack_sets_config_and_runs_policy_pack(project):
    fake = FakePulumi()
    out_file = project / "out" / "summary.json"
    code, out, err = drive(
        [
            "preview",
            "--stack",
            "dev",
            "--project-dir",
            str(project),
            "--set",
            "nodePools[0].maxSize=4",
            "--set",
            "aws:region=us-west-2",
            "--set",
            "tags.team=ml=infra",
            "--set-secret",
            "grafanaPassword=hunter2",
            "--policy-pack",
            "policies",
            "--summary",
            str(out_file),
        ],
        fake,
    )

    assert code == EXIT_OK, err
    assert fake.ops() == [
        ["stack", "select", "--stack", "dev"],
        cfg("trainstack:nodePools[0].maxSize", "4"),
        cfg("aws:region", "us-west-2"),
        cfg("trainstack:tags.team", "ml=infra"),
        SECRET_SET,
        [
            "preview",
            "--policy-pack",
            "policies",
            "--exec-kind",
            "auto.local",
            "--event-log",
            LOG,
            "--stack",
            "dev",
        ],
    ]
    # The secret went in on stdin (one newline, which the CLI strips), in no argument.
    assert fake.stdin == ["hunter2\n"]
    assert not any("hunter2" in a for c in fake.calls for a in c)
    assert fake.event_log_targets[0].startswith("tcp://127.0.0.1:")
    assert "+ create aws:eks/cluster:Cluster cluster" in out
    assert "node-role" not in out  # unchanged resources are not listed
    assert "  create: 1\n  same: 1" in out
    summary = json.loads(out_file.read_text())
    assert summary["operation"] == "preview" and summary["stack"] == "dev"
    assert summary["result"] == "succeeded" and summary["exit_code"] == 0
    assert summary["change_summary"] == {"create": 1, "same": 1}
    assert summary["outputs"] == {}
    assert summary["policy_packs"] == ["policies"]
    assert summary["policy_violations"] == []
    assert summary["config_keys"][-1] == "trainstack:grafanaPassword"
    assert isinstance(summary["duration_seconds"], float)
    assert "hunter2" not in out + err + out_file.read_text()


def test_missing_stack_is_created(project):
    fake = FakePulumi(stack_exists=False)
    code, _, err = drive(["preview", "--stack", "dev", "--project-dir", str(project)], fake)
    assert code == EXIT_OK, err
    assert fake.ops()[:3] == [
        ["stack", "select", "--stack", "dev"],
        ["stack", "init", "dev"],
        ["preview", "--exec-kind", "auto.local", "--event-log", LOG, "--stack", "dev"],
    ]


@pytest.mark.parametrize(
    "argv, expected",
    [
        (
            ["refresh"],
            [
                "refresh",
                "--skip-preview",
                "--yes",
                "--exec-kind",
                "auto.local",
                "--event-log",
                LOG,
                "--stack",
                "dev",
            ],
        ),
        (
            ["destroy", "--yes"],
            [
                "destroy",
                "--skip-preview",
                "--yes",
                "--exec-kind",
                "auto.local",
                "--event-log",
                LOG,
                "--stack",
                "dev",
            ],
        ),
    ],
)
def test_refresh_and_destroy_command_lines(project, argv, expected):
    fake = FakePulumi(
        events=[{"summaryEvent": {"resourceChanges": {"same": 2}}}], history_changes={"same": 2}
    )
    code, out, err = drive(
        [*argv, "--stack", "dev", "--project-dir", str(project), "--policy-pack", "policies"], fake
    )
    assert code == EXIT_OK, err
    assert fake.ops()[1] == expected
    assert "--policy-pack is ignored" in err
    if argv[0] == "refresh":  # refresh reports the refreshed outputs, destroy has none left
        assert "kubeconfig: [secret]" in out
    else:
        assert "Outputs:" not in out


def test_cli_progress_mode_streams_cli_output(project):
    fake = FakePulumi()
    code, out, _ = drive(
        ["preview", "--stack", "dev", "--project-dir", str(project), "--progress", "cli"], fake
    )
    assert code == EXIT_OK
    assert "CLI says: preview done" in out
    assert "+ create" not in out


def test_older_cli_uses_event_log_file(project):
    fake = FakePulumi(version="3.200.0")
    code, out, err = drive(["preview", "--stack", "dev", "--project-dir", str(project)], fake)
    assert code == EXIT_OK, err
    assert fake.event_log_targets[0].endswith("eventlog.txt")
    assert "+ create aws:eks/cluster:Cluster cluster" in out


def test_stack_selection_failure_exits_1(project):
    fake = FakePulumi(
        fail={
            "stack select": CommandResult(
                "", "error: passphrase must be set with PULUMI_CONFIG_PASSPHRASE", 255
            )
        }
    )
    out_file = project / "summary.json"
    code, _, err = drive(
        ["preview", "--stack", "dev", "--project-dir", str(project), "--summary", str(out_file)],
        fake,
    )
    assert code == EXIT_FAILED
    assert "PULUMI_CONFIG_PASSPHRASE" in err
    assert json.loads(out_file.read_text())["failed_phase"] == "select"
    assert len(fake.calls) == 1


def test_mandatory_policy_event_exits_3(project):
    fake = FakePulumi(
        events=[*plan_events(), policy("mandatory")],
        fail={"preview": CommandResult("Policy Violations: ...", "", 255)},
    )
    out_file = project / "summary.json"
    code, out, err = drive(
        [
            "preview",
            "--stack",
            "dev",
            "--project-dir",
            str(project),
            "--policy-pack",
            "policies",
            "--summary",
            str(out_file),
        ],
        fake,
    )
    assert code == EXIT_POLICY
    assert (
        "policy [mandatory] trainstack-guardrails/eks-secrets-encryption: "
        "EKS secrets must be encrypted with KMS"
    ) in err
    summary = json.loads(out_file.read_text())
    assert summary["result"] == "policy-violation" and summary["exit_code"] == 3
    assert summary["policy_violations"] == [
        {
            "pack": "trainstack-guardrails",
            "pack_version": "0.1.0",
            "policy": "eks-secrets-encryption",
            "level": "mandatory",
            "message": "EKS secrets must be encrypted with KMS",
            "urn": CLUSTER_URN,
            # Another pack's rule: no baseline controls of ours to show.
            "controls": [],
        }
    ]


def test_mandatory_violation_detected_from_error_text(project):
    # No policy event reached us (e.g. the pack failed to report per resource): the CLI's own
    # rendering of the violation is the fallback.
    text = (
        "Policy Violations:\n    [mandatory]  trainstack-guardrails v0.1.0  "
        "eks-secrets-encryption (aws:eks/cluster:Cluster: cluster)\n"
    )
    fake = FakePulumi(fail={"preview": CommandResult(text, "error: preview failed", 255)})
    code, _, _ = drive(
        ["preview", "--stack", "dev", "--project-dir", str(project), "--policy-pack", "policies"],
        fake,
    )
    assert code == EXIT_POLICY


def test_mandatory_violation_found_beyond_the_error_tail_shown(project):
    # Diagnostics after the violation push it out of the 30 lines printed; it still exits 3.
    text = (
        "Policy Violations:\n    [mandatory]  trainstack-guardrails v0.1.0  "
        "eks-secrets-encryption (aws:eks/cluster:Cluster: cluster)\n"
        + "".join(f"    diagnostic line {i}\n" for i in range(60))
    )
    fake = FakePulumi(fail={"preview": CommandResult(text, "error: preview failed", 255)})
    code, _, err = drive(
        ["preview", "--stack", "dev", "--project-dir", str(project), "--policy-pack", "policies"],
        fake,
    )
    assert code == EXIT_POLICY
    assert "[mandatory]" not in err  # the shown tail does not have it


def test_advisory_violation_is_reported_but_passes(project):
    out_file = project / "summary.json"
    fake = FakePulumi(events=[*plan_events(), policy("advisory")])
    code, out, _ = drive(
        [
            "preview",
            "--stack",
            "dev",
            "--project-dir",
            str(project),
            "--policy-pack",
            "policies",
            "--summary",
            str(out_file),
        ],
        fake,
    )
    assert code == EXIT_OK
    assert "[advisory] trainstack-guardrails/eks-secrets-encryption" in out
    assert json.loads(out_file.read_text())["policy_violations"][0]["level"] == "advisory"


def test_secret_from_an_environment_variable_is_in_no_command_line(project, monkeypatch):
    monkeypatch.setenv("CI_HF_TOKEN", "hf_live-Token-42")
    fake = FakePulumi()
    out_file = project / "summary.json"
    code, out, err = drive(
        [
            "up",
            "--stack",
            "dev",
            "--project-dir",
            str(project),
            "--set-secret-env",
            "hfToken=CI_HF_TOKEN",
            "--summary",
            str(out_file),
        ],
        fake,
    )
    assert code == EXIT_OK, err
    assert [
        "config",
        "set",
        "--path",
        "trainstack:hfToken",
        "--secret",
        "--stack",
        "dev",
    ] in fake.calls
    assert fake.stdin == ["hf_live-Token-42\n"]
    assert not any("hf_live" in a for c in fake.calls for a in c)
    assert "hf_live" not in out + err + out_file.read_text()
    assert json.loads(out_file.read_text())["config_keys"] == ["trainstack:hfToken"]
