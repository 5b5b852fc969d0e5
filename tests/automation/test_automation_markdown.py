"""The pull-request summary (`--markdown`, automation/markdown.py, impact.py, changes.py) through
the real SDK and the fake CLI: changes by component from the engine's URNs, the policy result,
the GPU ceiling and cost before/after priced by trainstack.cost, drift (exit 4), and the summary
written on failure without secrets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from automation_support import (  # noqa: F401  (fixtures)
    CLUSTER_URN,
    REPO,
    FakePulumi,
    drive,
    no_real_cli,
    plan_events,
    policy,
    project_fixture,
    step,
)
from pulumi.automation import CommandResult

from automation import EXIT_DRIFT, EXIT_FAILED, EXIT_OK, EXIT_POLICY
from trainstack.offline.costing import price_stack
from trainstack.offline.stack_config import load_stack_file

PLATFORM = "urn:pulumi:dev::trainstack::trainstack:platform:Platform"
NODEPOOL_URN = (
    f"{PLATFORM}$trainstack:karpenter:Karpenter$kubernetes:karpenter.sh/v1:NodePool::large"
)
LIMIT_URN = f"{PLATFORM}$trainstack:karpenter:Karpenter$aws:iam/policy:Policy::karpenter-limits"
SUBNET_URN = f"{PLATFORM}$trainstack:network:Network$aws:ec2/subnet:Subnet::private-a"


def _price(path: Path):
    """The stack file priced as `trainstack cost` prices it (its plan's resources and its
    pools): the expected numbers of a test."""
    return price_stack(load_stack_file(path, "dev"), "dev")


def _stack_file(project: Path, edit=None) -> Path:
    data = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())
    if edit:
        edit(data["config"])
    path = project / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _raise_large_pool(config: dict) -> None:
    config["trainstack:karpenter"]["nodePools"]["large"]["maxGpus"] += 8


def test_raised_max_gpus_shows_the_new_ceiling_and_the_cost_delta(project):
    head = _stack_file(project, _raise_large_pool)
    base = project / "base.yaml"
    shutil.copy(REPO / "Pulumi.dev.yaml", base)
    fake = FakePulumi(
        events=[
            step("resourcePreEvent", "update", NODEPOOL_URN, planning=True),
            step("resourcePreEvent", "update", LIMIT_URN, planning=True),
            step("resourcePreEvent", "same", SUBNET_URN, planning=True),
            {"summaryEvent": {"resourceChanges": {"update": 2, "same": 1}}},
        ]
    )
    md = project / "out" / "summary.md"
    code, _, err = drive(
        [
            *("preview", "--stack", "dev", "--project-dir", str(project)),
            *("--policy-pack", "policies", "--markdown", str(md)),
            *("--base-stack-file", str(base)),
        ],
        fake,
    )
    assert code == EXIT_OK, err
    text = md.read_text()
    before, after = _price(base), _price(head)
    assert after.gpu_ceiling == before.gpu_ceiling + 8  # the edit's own effect, no formatting
    gpu_delta = after.gpu_ceiling - before.gpu_ceiling
    cost_delta = after.ceiling_hourly - before.ceiling_hourly
    assert cost_delta > 0
    assert f"| Max GPUs | {before.gpu_ceiling} | {after.gpu_ceiling} | +{gpu_delta} |" in text
    assert (
        f"| Ceiling $/h (every pool at its max) | ${before.ceiling_hourly:,.2f}/h | "
        f"${after.ceiling_hourly:,.2f}/h | +${cost_delta:,.2f}/h |"
    ) in text
    # Idle does not move when only a ceiling rises.
    assert (
        f"| Idle $/h | ${before.idle_hourly:,.2f}/h | ${after.idle_hourly:,.2f}/h | $0.00/h |"
        in text
    )
    assert f"prices of {after.prices.date}" in text
    assert "## trainstack `dev`: preview succeeded (exit 0)" in text
    # Both updates sit under the Karpenter component; the unchanged subnet is no row.
    assert "| Karpenter | 0 | 2 | 0 | 0 |" in text
    assert "Network" not in text
    assert "1 resources unchanged." in text
    assert "**passed**: 0 mandatory, 0 advisory" in text


def test_without_a_base_file_the_before_column_says_so(project):
    _stack_file(project)
    md = project / "summary.md"
    code, _, _ = drive(
        ["preview", "--stack", "dev", "--project-dir", str(project), "--markdown", str(md)],
        FakePulumi(),
    )
    assert code == EXIT_OK
    text = md.read_text()
    assert "| Max GPUs | n/a | " in text
    assert "- Before: not given (--base-stack-file)" in text
    assert "No policy pack ran" in text


def test_mandatory_refusal_is_in_the_summary_with_rule_and_resource(project):
    _stack_file(project)
    fake = FakePulumi(
        events=[*plan_events(), policy("mandatory"), policy("advisory")],
        fail={"preview": CommandResult("Policy Violations: ...", "", 255)},
    )
    md = project / "summary.md"
    code, _, _ = drive(
        [
            *("preview", "--stack", "dev", "--project-dir", str(project)),
            *("--policy-pack", "policies", "--markdown", str(md)),
        ],
        fake,
    )
    assert code == EXIT_POLICY
    text = md.read_text()
    assert "preview refused by a mandatory policy (exit 3)" in text
    assert "**refused**: 1 mandatory, 1 advisory violation(s)" in text
    assert (
        "| mandatory | trainstack-guardrails/eks-secrets-encryption | "
        "cluster (aws:eks/cluster:Cluster) | EKS secrets must be encrypted with KMS |"
    ) in text
    # Mandatory rows come first.
    assert text.index("| mandatory |") < text.index("| advisory |")


def test_expect_no_changes_with_drift_exits_4_and_says_drift(project):
    _stack_file(project)
    fake = FakePulumi(
        events=[
            step("resourcePreEvent", "update", SUBNET_URN, planning=True),
            {"summaryEvent": {"resourceChanges": {"update": 1, "same": 40}}},
        ]
    )
    md = project / "summary.md"
    code, _, err = drive(
        [
            *("preview", "--stack", "dev", "--project-dir", str(project)),
            *("--refresh", "--expect-no-changes", "--markdown", str(md)),
        ],
        fake,
    )
    assert code == EXIT_DRIFT, err
    preview = next(c for c in fake.calls if c[0] == "preview")
    assert "--refresh" in preview and "--expect-no-changes" in preview
    text = md.read_text()
    assert "preview found drift (exit 4)" in text
    assert "### Drift" in text and "proposes 1 change(s)" in text
    assert "| Network | 0 | 1 | 0 | 0 |" in text
    assert "### Failure" not in text


def test_expect_no_changes_without_changes_exits_0(project):
    _stack_file(project)
    fake = FakePulumi(events=[{"summaryEvent": {"resourceChanges": {"same": 41}}}])
    md = project / "summary.md"
    code, _, err = drive(
        [
            *("preview", "--stack", "dev", "--project-dir", str(project)),
            *("--refresh", "--expect-no-changes", "--markdown", str(md)),
        ],
        fake,
    )
    assert code == EXIT_OK, err
    assert "No resource changes (41 resources unchanged)." in md.read_text()


def test_failure_is_written_and_secrets_never_appear(project, monkeypatch):
    _stack_file(project)
    monkeypatch.setenv("CI_HF_TOKEN", "hf_live-Token-42")
    fake = FakePulumi(
        fail={"preview": CommandResult("", "error: bad value hf_live-Token-42 | boom", 255)}
    )
    md = project / "summary.md"
    code, out, err = drive(
        [
            *("preview", "--stack", "dev", "--project-dir", str(project)),
            *("--set-secret-env", "hfToken=CI_HF_TOKEN", "--markdown", str(md)),
        ],
        fake,
    )
    assert code == EXIT_FAILED
    text = md.read_text()
    assert "### Failure" in text and "failed during `operation`" in text
    assert "bad value [secret] | boom" in text
    assert "hf_live" not in text + out + err


def test_missing_cli_still_writes_the_markdown(project, tmp_path, monkeypatch):
    import subprocess

    import pulumi.automation._cmd as sdk_cmd

    import automation.command

    monkeypatch.setattr(sdk_cmd, "subprocess", subprocess)
    monkeypatch.setattr(automation.command, "subprocess", subprocess)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    _stack_file(project)
    md = project / "summary.md"
    code, _, _ = drive(
        ["up", "--stack", "dev", "--project-dir", str(project), "--markdown", str(md)], None
    )
    assert code == EXIT_FAILED
    text = md.read_text()
    assert "up failed (exit 1)" in text and "failed during `cli`" in text
    assert "no `pulumi` on PATH" in text


@pytest.mark.parametrize("op", ["refresh", "destroy"])
def test_operations_that_do_not_change_the_stack_have_no_cost_table(project, op):
    fake = FakePulumi(
        events=[
            step("resourcePreEvent", "delete", CLUSTER_URN),
            {"summaryEvent": {"resourceChanges": {"delete": 1}}},
        ],
        history_changes={"delete": 1},
    )
    md = project / "summary.md"
    code, _, _ = drive(
        [op, "--yes", "--stack", "dev", "--project-dir", str(project), "--markdown", str(md)],
        fake,
    )
    assert code == EXIT_OK
    text = md.read_text()
    assert "GPU ceiling" not in text
    assert "| (outside the components: providers, stack) | 0 | 0 | 0 | 1 |" in text
