"""`preflight --fix` (imagebuild/preflight/fix.py): every fixable scenario of the realistic table
ends with no finding at all, every unfixable one keeps its finding and says why; the diff is
printed and the files on disk change."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest
import yaml
from preflight_cases import FACTS, GOOD_REQS, REQS, ROOT, SCENARIOS, image, project

from imagebuild import preflight
from imagebuild.preflight import analyze
from imagebuild.preflight.fix import MAX_ROUNDS, apply_edits, fix_to_fixed_point, why_not_fixed

# Scenarios whose findings take a person, and the words their reason must hold.
UNFIXABLE = {
    "FROM variable without a default": "must parse first",
    "torch release unknown to TORCH_CUDA_BUILDS": "author's choice",
    "pip installs a file nobody gave the preflight": "not in the build context",
}
FIXABLE = [s for s in SCENARIOS if s[3] and s[0] not in UNFIXABLE]


def fixed(dockerfile: str, requirements: dict[str, str], build_args=None):
    """The fixer over in-memory files, as the CLI runs it over the build context."""
    files = {"Dockerfile": dockerfile, **requirements}
    shown: list[str] = []

    def check():
        findings = analyze(
            files["Dockerfile"],
            {k: v for k, v in files.items() if k != "Dockerfile"},
            facts=FACTS,
            build_args=build_args,
        )
        return findings, dict(files), "Dockerfile"

    findings = fix_to_fixed_point(check, files.__setitem__, build_args or {}, shown.append)
    return findings, files, shown


@pytest.mark.parametrize(
    "dockerfile, requirements, codes", [pytest.param(*s[1:4], id=s[0]) for s in FIXABLE]
)
def test_every_fixable_scenario_ends_clean(dockerfile, requirements, codes):
    assert [f.code for f in analyze(dockerfile, requirements, facts=FACTS)] == codes
    findings, files, shown = fixed(dockerfile, requirements)
    assert findings == [], "\n".join(map(str, findings)) + "\n" + "\n".join(files.values())
    assert shown and all(d.startswith("--- a/") for d in shown)


@pytest.mark.parametrize(
    "dockerfile, requirements, codes, reason",
    [pytest.param(*s[1:4], UNFIXABLE[s[0]], id=s[0]) for s in SCENARIOS if s[0] in UNFIXABLE],
)
def test_every_unfixable_scenario_says_why(dockerfile, requirements, codes, reason):
    findings, files, shown = fixed(dockerfile, requirements)
    assert [f.code for f in findings] == codes
    assert shown == [] and files == {"Dockerfile": dockerfile, **requirements}
    assert all(reason in why_not_fixed(f, {}) for f in findings), [f.manual for f in findings]


def test_fixes_follow_the_from_arguments_to_their_defaults():
    """The trainer's own Dockerfile builds its FROM from ARGs: a CUDA the driver cannot run is
    fixed in ARG CUDA_VERSION, unless a --build-arg set it (the caller's value, not the file's)."""
    text = (ROOT / "trainer" / "Dockerfile").read_text()
    bumped = text.replace("ARG CUDA_VERSION=13.0\n", "ARG CUDA_VERSION=13.2\n", 1)
    assert bumped != text
    reqs = {p: (ROOT / p).read_text() for p in preflight.installed_requirement_files(text)}
    assert [f.code for f in analyze(bumped, reqs, facts=FACTS)] == ["TS203"]
    findings, files, _ = fixed(bumped, reqs)
    assert findings == [] and files["Dockerfile"] == text
    findings, files, _ = fixed(text, reqs, build_args={"CUDA_VERSION": "13.2"})
    assert [f.code for f in findings] == ["TS203"] and files["Dockerfile"] == text
    assert "--build-arg" in why_not_fixed(findings[0], {"CUDA_VERSION": "13.2"})


def test_a_removed_requirement_takes_its_pip_command_when_nothing_is_left():
    dockerfile = image(
        install="RUN pip install -r /opt/app/requirements.txt && pip install -U torch"
    )
    findings, files, _ = fixed(dockerfile, {REQS: GOOD_REQS})
    assert findings == []
    assert "RUN pip install -r /opt/app/requirements.txt\n" in files["Dockerfile"]


def test_an_edit_whose_word_is_gone_waits_for_the_next_round():
    edit = preflight.findings.Edit(REQS, 1, "torch==2.12.0", "torch==2.13.0")
    outcome = apply_edits({REQS: "torch==2.13.0\n"}, [edit], "Dockerfile", {})
    assert outcome.texts == {} and outcome.unapplied == [edit]
    assert MAX_ROUNDS >= 2


def test_cli_fix_prints_the_diff_and_changes_the_files(tmp_path, capsys):
    root = project(
        tmp_path,
        image("pytorch/pytorch:latest"),
        "--extra-index-url https://download.pytorch.org/whl/cu126\ntorch==2.13.0+cu126\n",
    )
    assert preflight.run(_args(["--fix"]), root=root) == 0
    out = capsys.readouterr().out
    assert "--- a/trainer/Dockerfile\n+++ b/trainer/Dockerfile" in out
    assert (
        "-FROM pytorch/pytorch:latest\n+FROM pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime" in out
    )
    assert "+--extra-index-url https://download.pytorch.org/whl/cu130" in out
    assert out.rstrip().endswith(": 0 error(s), 0 warning(s)")
    assert (
        "FROM pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime"
        in (root / "trainer" / "Dockerfile").read_text()
    )
    assert (root / REQS).read_text() == (
        "--extra-index-url https://download.pytorch.org/whl/cu130\ntorch==2.13.0\n"
    )
    # Clean now: a second --fix changes nothing and prints no diff.
    assert preflight.run(_args(["--fix"]), root=root) == 0
    assert "--- a/" not in capsys.readouterr().out


def test_cli_fix_says_why_a_finding_stays(tmp_path, capsys):
    root = project(tmp_path, "ARG TORCH\nFROM pytorch/pytorch:${TORCH}-cuda13.0-cudnn9-runtime\n")
    assert preflight.run(_args(["--fix"]), root=root) == 1
    out = capsys.readouterr().out
    assert "TS100 error" in out and "not fixed: the Dockerfile must parse first" in out


@pytest.mark.parametrize("auto_fix", ["true", "false"])
def test_buildspec_runs_the_preflight_with_fix_when_auto_fix_is_true(tmp_path, auto_fix):
    """The buildspec's own pre_build commands up to the preflight, in bash as CodeBuild runs
    them, on a build context whose base is `latest`: AUTO_FIX=true fixes it and logs the diff."""
    spec = yaml.safe_load((ROOT / "trainer" / "buildspec.yml").read_text())
    pre = spec["phases"]["pre_build"]["commands"]
    upto = next(i for i, c in enumerate(pre) if "imagebuild.preflight" in c)
    root = project(tmp_path, image("pytorch/pytorch:latest"))
    run = subprocess.run(
        [
            "bash",
            "-c",
            "set -e\n" + "\n".join(pre[: upto + 1]).replace("python3 ", f"{sys.executable} "),
        ],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(ROOT), "AUTO_FIX": auto_fix},
        capture_output=True,
        text=True,
        timeout=60,
    )
    dockerfile = (root / "trainer" / "Dockerfile").read_text()
    if auto_fix == "true":
        assert run.returncode == 0, run.stdout + run.stderr
        assert "+FROM pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime" in run.stdout
        assert "FROM pytorch/pytorch:latest" not in dockerfile
    else:
        assert run.returncode == 1 and "TS102 error" in run.stdout
        assert "FROM pytorch/pytorch:latest" in dockerfile and "--- a/" not in run.stdout


def _args(argv):
    parser = argparse.ArgumentParser()
    preflight.add_arguments(parser)
    return parser.parse_args(argv)
