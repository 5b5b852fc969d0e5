"""`trainstack diagnose` (trainstack/cli/diagnose.py): saved kubectl output in, causes out."""

import json

import pytest
from diagnose_cases import CASES
from diagnose_support import CUDA_OOM_LOG, HEALTHY_LOG

from trainstack.cli import diagnose as diagnose_cli


def test_command_reads_saved_kubectl_output(tmp_path, capsys):
    limit = next(c for c in CASES if c[0] == "nodepool-limit")
    (tmp_path / "pods.json").write_text(json.dumps({"kind": "List", "items": limit[1]}))
    (tmp_path / "events.json").write_text(json.dumps({"kind": "List", "items": limit[2]}))
    (tmp_path / "log.txt").write_text(limit[3])
    argv = [
        "--pods",
        str(tmp_path / "pods.json"),
        "--events",
        str(tmp_path / "events.json"),
        "--log",
        str(tmp_path / "log.txt"),
    ]
    assert diagnose_cli.main(argv + ["--json"]) == 1
    assert [c["code"] for c in json.loads(capsys.readouterr().out)] == limit[4]
    assert diagnose_cli.main(["--log", str(tmp_path / "missing.txt")]) == 2
    (tmp_path / "ok.txt").write_text(HEALTHY_LOG)
    assert diagnose_cli.main(["--log", str(tmp_path / "ok.txt")]) == 0
    assert "No known failure cause" in capsys.readouterr().out


def test_trainstack_diagnose_runs_the_command(tmp_path, capsys):
    from trainstack import cli

    (tmp_path / "log.txt").write_text(CUDA_OOM_LOG)
    assert cli.main(["diagnose", "--log", str(tmp_path / "log.txt")]) == 1
    assert "[CUDA_OOM]" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        cli.main(["diagnose", "--help"])
    assert done.value.code == 0 and "--pods" in capsys.readouterr().out


def test_nothing_to_read_says_what_it_needs(capsys):
    """No --pods/--events/--log: every classifier would find nothing, which is no diagnosis."""
    from trainstack import cli

    for run in (diagnose_cli.main, lambda argv: cli.main(["diagnose", *argv])):
        for argv in ([], ["--json"], ["--no-efa"]):
            assert run(argv) == 2
            captured = capsys.readouterr()
            assert captured.out == "" and captured.err.count("\n") == 1
            assert all(flag in captured.err for flag in ("--pods", "--events", "--log -"))
