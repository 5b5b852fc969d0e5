"""`python -m imagebuild.preflight` as CodeBuild runs it: output, JSON, exit codes, the files it
reads, and that it runs on a bare Python with packaging only, installed before it by the buildspec."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import packaging
import yaml
from preflight_cases import ROOT, image, project

from imagebuild import preflight

BAD = image(
    install="RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu "
    "-r /opt/app/requirements.txt"
)


def test_cli_prints_findings_and_exits_1_on_an_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(project(tmp_path, BAD))
    assert preflight.main([]) == 1
    out = capsys.readouterr().out
    assert "TS202 error trainer/Dockerfile:4: https://download.pytorch.org/whl/cpu" in out
    assert "fix: --extra-index-url https://download.pytorch.org/whl/cu130" in out
    assert "1 error(s), 0 warning(s)" in out


def test_cli_json_and_warnings_only_exit_0(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(project(tmp_path, image(), "torch>=2.12\n"))
    assert preflight.main(["--json"]) == 0
    findings = json.loads(capsys.readouterr().out)
    assert [(f["code"], f["severity"], f["fix"]) for f in findings] == [
        ("TS105", "warning", "torch==2.13.0")
    ]


def codes(capsys) -> list[str]:
    return [f["code"] for f in json.loads(capsys.readouterr().out)]


def test_cli_reads_included_and_installed_files(tmp_path, capsys, monkeypatch):
    root = project(tmp_path, image(), "-r base.txt\nnumpy==1.25.0\n")
    (root / "trainer" / "base.txt").write_text("torch==2.13.0\nnumpy>=1.26\n")
    (root / "other.Dockerfile").write_text(
        "FROM pytorch/pytorch\nCOPY trainer /opt/app/trainer\n"
        "RUN pip install -r /opt/app/trainer/base.txt -r /opt/app/trainer/missing.txt\n"
    )
    monkeypatch.chdir(root)
    assert preflight.main(["--json"]) == 1
    assert codes(capsys) == ["TS401"]  # base.txt came in through -r in requirements.txt
    assert preflight.main(["--dockerfile", "other.Dockerfile", "--json"]) == 1
    assert codes(capsys) == ["TS101", "TS401", "TS403"]  # the default file is still read
    assert (
        preflight.main(
            ["--dockerfile", "other.Dockerfile", "--requirements", "trainer/base.txt", "--json"]
        )
        == 1
    )
    assert codes(capsys) == ["TS101", "TS403"]  # base.txt alone: no numpy conflict


def test_cli_missing_file_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert preflight.main([]) == 2
    assert "trainer/Dockerfile" in capsys.readouterr().err


def test_module_runs_on_a_bare_python_with_packaging_only(tmp_path):
    # -S: no site-packages; PYTHONPATH holds packaging alone, as CodeBuild's python3 has after
    # the buildspec's install phase (test_buildspec_installs_packaging_before_the_preflight).
    (tmp_path / "packaging").symlink_to(Path(packaging.__file__).parent)
    run = subprocess.run(
        [sys.executable, "-S", "-m", "imagebuild.preflight"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("preflight: trainer/Dockerfile with trainer/requirements.txt")
    assert run.stdout.rstrip().endswith(": 0 error(s), 0 warning(s)")


def test_buildspec_installs_packaging_before_the_preflight():
    spec = yaml.safe_load((ROOT / "trainer" / "buildspec.yml").read_text())
    commands = [
        cmd
        for phase in ("install", "pre_build")
        for cmd in spec["phases"].get(phase, {}).get("commands", [])
    ]
    install = next(i for i, c in enumerate(commands) if "pip install" in c)
    run = next(i for i, c in enumerate(commands) if "imagebuild.preflight" in c)
    assert install < run, commands
    # The pin is the version the tests ran the preflight with; pyproject's floor allows it.
    assert f"'packaging=={packaging.__version__}'" in commands[install], (
        f"pin packaging=={packaging.__version__} in trainer/buildspec.yml, as installed here"
    )
