"""What a run prints and writes as its summary (automation/summary.py): masked outputs, the
backend's change counts, a failed operation's record."""

from __future__ import annotations

import json

from automation_support import (  # noqa: F401  (fixtures)
    CLUSTER_URN,
    LOG,
    FakePulumi,
    drive,
    no_real_cli,
    project_fixture,
    step,
)
from pulumi.automation import CommandResult

from automation import EXIT_FAILED, EXIT_OK


def test_up_prints_masked_outputs_and_writes_summary(project):
    fake = FakePulumi(
        events=[
            step("resourcePreEvent", "update", CLUSTER_URN),
            step("resOutputsEvent", "update", CLUSTER_URN),
            {"summaryEvent": {"resourceChanges": {"update": 1}}},
        ],
        history_changes={"update": 1, "same": 41},
    )
    out_file = project / "summary.json"
    code, out, err = drive(
        [
            "up",
            "--stack",
            "dev",
            "--project-dir",
            str(project),
            "--policy-pack",
            "policies",
            "--message",
            "ci run 42",
            "--summary",
            str(out_file),
        ],
        fake,
    )

    assert code == EXIT_OK, err
    assert fake.ops()[1:] == [
        [
            "up",
            "--yes",
            "--skip-preview",
            "--message",
            "ci run 42",
            "--policy-pack",
            "policies",
            "--exec-kind",
            "auto.local",
            "--event-log",
            LOG,
            "--stack",
            "dev",
        ],
        ["stack", "output", "--json", "--stack", "dev"],
        ["stack", "output", "--json", "--show-secrets", "--stack", "dev"],
        [
            "stack",
            "history",
            "--json",
            "--show-secrets",
            "--page-size",
            "1",
            "--page",
            "1",
            "--stack",
            "dev",
        ],
    ]
    assert "~ update aws:eks/cluster:Cluster cluster" in out
    assert "  done update aws:eks/cluster:Cluster cluster" in out
    assert "kubeconfig: [secret]" in out
    assert "clusterName: trainstack-dev" in out
    assert 'pools: ["gpu"]' in out
    summary = json.loads(out_file.read_text())
    # The history entry wins over the summary event: it is the backend's record.
    assert summary["change_summary"] == {"update": 1, "same": 41}
    assert summary["outputs"] == {
        "clusterName": "trainstack-dev",
        "kubeconfig": "[secret]",
        "pools": ["gpu"],
    }
    assert "SECRET-TOKEN" not in out + err + out_file.read_text()


def test_operation_failure_exits_1_with_summary(project):
    failure = CommandResult(
        "Updating (dev)\n  aws:eks:Cluster cluster **failed**", "error: update failed", 255
    )
    fake = FakePulumi(
        events=[
            step("resourcePreEvent", "create", CLUSTER_URN),
            {
                "diagnosticEvent": {
                    "message": "<{%fg 1%}>AccessDenied: eks:CreateCluster<{%reset%}>\n",
                    "color": "raw",
                    "severity": "error",
                }
            },
            step("resOpFailedEvent", "create", CLUSTER_URN, status=1, steps=1),
        ],
        fail={"up": failure},
    )
    out_file = project / "summary.json"
    code, out, err = drive(
        ["up", "--stack", "dev", "--project-dir", str(project), "--summary", str(out_file)], fake
    )
    assert code == EXIT_FAILED
    assert "error: AccessDenied: eks:CreateCluster" in err
    assert "failed aws:eks/cluster:Cluster cluster" in err
    assert "error: update failed" in err
    summary = json.loads(out_file.read_text())
    assert summary["result"] == "failed" and summary["exit_code"] == 1
    assert summary["failed_phase"] == "operation"
    assert "update failed" in summary["error"]
    # No stack output / history calls after a failed up.
    assert fake.ops()[-1][0] == "up"
