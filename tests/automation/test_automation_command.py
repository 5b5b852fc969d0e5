"""PulumiCLI.run_with_stdin (automation/command.py) against a real stand-in process: a secret
goes in on stdin, never in argv."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from automation_support import no_real_cli  # noqa: F401  (fixtures)
from pulumi.automation import CommandError

import automation.command
from automation.command import PulumiCLI


def stand_in_cli(tmp_path: Path, code: int) -> Path:
    """An executable in the CLI's place that records its argv, stdin and marker variable."""
    script = tmp_path / "pulumi"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"json.dump({{'argv': sys.argv[1:], 'stdin': sys.stdin.read(), 'cwd': os.getcwd(),\n"
        "           'marker': os.environ.get('PULUMI_AUTOMATION_API'),\n"
        "           'home': os.environ.get('PULUMI_HOME'),\n"
        "           'path': os.environ['PATH'].split(os.pathsep)[0]},\n"
        f"          open({str(tmp_path / 'seen.json')!r}, 'w'))\n"
        f"print('error: invalid configuration key', file=sys.stderr) if {code} else None\n"
        f"sys.exit({code})\n"
    )
    script.chmod(0o755)
    return script


def test_pulumi_cli_feeds_stdin_to_a_real_process(tmp_path, monkeypatch):
    monkeypatch.setattr(automation.command, "subprocess", subprocess)
    cli = PulumiCLI.__new__(PulumiCLI)  # __init__ would run `pulumi version`
    cli.command = str(stand_in_cli(tmp_path, 0))
    cli.run_with_stdin(
        ["config", "set", "--path", "k", "--secret", "--stack", "dev"],
        str(tmp_path),
        {"PULUMI_HOME": "/ci/pulumi-home"},
        "s3cret-ü\n",
    )
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen["argv"] == [
        "--non-interactive",
        "config",
        "set",
        "--path",
        "k",
        "--secret",
        "--stack",
        "dev",
    ]
    assert seen["stdin"] == "s3cret-ü\n" and seen["cwd"] == str(tmp_path)
    assert seen["marker"] == "true" and seen["home"] == "/ci/pulumi-home"
    assert seen["path"] == str(tmp_path)  # an absolute CLI's own directory first, as the SDK does

    cli.command = str(stand_in_cli(tmp_path, 255))
    with pytest.raises(CommandError, match="invalid configuration key"):
        cli.run_with_stdin(["config", "set", "k", "--secret"], str(tmp_path), {}, "x\n")
