"""`python -m automation` as a program (automation/cli.py main): exit codes when the project
or the Pulumi CLI is missing, the module entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import pulumi.automation._cmd as sdk_cmd
from automation_support import REPO, FakePulumi, drive, no_real_cli, project_fixture  # noqa: F401  (fixtures)

import automation.command
from automation import EXIT_FAILED, EXIT_USAGE


def test_missing_project_dir_exits_2(tmp_path):
    code, _, err = drive(
        ["preview", "--stack", "dev", "--project-dir", str(tmp_path / "absent")], FakePulumi()
    )
    assert code == EXIT_USAGE and "does not exist" in err


def test_missing_cli_exits_1(project):
    # No injected command: the real PulumiCommand is constructed, and the guard stands in for
    # a machine without the CLI.
    code, _, err = drive(["preview", "--stack", "dev", "--project-dir", str(project)], None)
    assert code == EXIT_FAILED
    assert "cannot use the Pulumi CLI" in err


def test_module_entry_point_reports_usage_errors():
    proc = subprocess.run(
        [sys.executable, "-m", "automation", "preview"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == EXIT_USAGE
    assert "--stack" in proc.stderr


def test_missing_pulumi_cli_says_how_to_install_it_and_still_writes_the_summary(
    project, tmp_path, monkeypatch
):
    # The real SDK looks for `pulumi` on an empty PATH: no process can start, so nothing real runs.
    monkeypatch.setattr(sdk_cmd, "subprocess", subprocess)
    monkeypatch.setattr(automation.command, "subprocess", subprocess)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    out_file = project / "summary.json"
    code, out, err = drive(
        ["preview", "--stack", "dev", "--project-dir", str(project), "--summary", str(out_file)],
        None,
    )
    assert code == EXIT_FAILED
    assert "no `pulumi` on PATH" in err and "Install it with" in err
    summary = json.loads(out_file.read_text())
    assert summary["result"] == "failed" and summary["exit_code"] == EXIT_FAILED
    assert summary["failed_phase"] == "cli"
    assert "cannot use the Pulumi CLI" in summary["error"]
