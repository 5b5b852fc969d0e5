"""The zip `pulumi up` uploads (imagebuild/source.py bundle), unpacked as CodeBuild does, runs
every command of the real trainer/buildspec.yml that needs neither Docker nor AWS."""

from __future__ import annotations

import io
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from builder_support import REGION, REPO

from imagebuild import builder as image_builder

# ------------------------------------------------- the real bundle runs the real buildspec

# Buildspec commands that need Docker or AWS (run on CodeBuild only): any shell word `docker` or
# `aws`, as a command or in a command substitution. Everything else runs from the unpacked bundle.
_NEEDS_CLOUD = re.compile(r"(?:^|[\s;|&(`])(?:docker|aws)\s")
# What CodeBuild sets that the buildspec reads (`env:` variables are added from the file itself).
CODEBUILD_ENV = {
    "REPOSITORY_URI": f"123456789012.dkr.ecr.{REGION}.amazonaws.com/{REPO}",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "CODEBUILD_RESOLVED_SOURCE_VERSION": "0123456789abcdef0123456789abcdef01234567",
    "CODEBUILD_BUILD_SUCCEEDING": "1",
    "CODEBUILD_SRC_DIR": "",
}


def _local_commands(spec: dict) -> list[tuple[str, str]]:
    """(phase, command) of every buildspec command that needs neither Docker nor AWS, in order."""
    return [
        (phase, cmd)
        for phase in ("install", "pre_build", "build", "post_build")
        for cmd in (spec["phases"].get(phase) or {}).get("commands", [])
        if not _NEEDS_CLOUD.search(cmd)
    ]


def _copy_sources(dockerfile_text: str) -> list[str]:
    from imagebuild.dockerfile import parse_dockerfile, split_words

    sources = []
    for keyword, rest in parse_dockerfile(dockerfile_text).steps:
        words = [w for w in split_words(rest) if not w.startswith("--")]
        if keyword in ("COPY", "ADD") and "--from=" not in rest:
            sources += words[:-1]
    return sources


def test_cloud_rule_keeps_local_commands_and_drops_docker_and_aws():
    spec = {
        "phases": {
            "pre_build": {
                "commands": [
                    "python3 -m imagebuild.preflight",
                    'X="${A#*/}"',
                    "echo docker-free",
                    "aws ecr get-login-password | docker login x",
                    "E=$(aws ecr describe-images || true)",
                    "if [ -n a ]; then\n  docker build .\nfi",
                ]
            }
        }
    }
    assert [c for _, c in _local_commands(spec)] == [
        "python3 -m imagebuild.preflight",
        'X="${A#*/}"',
        "echo docker-free",
    ]


def _run_bundle_locally(tmp_path: Path, **codebuild_env: str) -> tuple[Path, str]:
    """The zip `pulumi up` uploads, unpacked as CodeBuild does, runs every buildspec command that
    needs neither Docker nor AWS (the preflight first), in one bash as buildspec 0.2 does.
    Returns the unpacked tree and the build's stdout; a failing command fails the test by name."""
    root = Path(__file__).resolve().parents[2]
    tree = tmp_path / "src"
    with zipfile.ZipFile(io.BytesIO(image_builder.bundle(root))) as zf:
        zf.extractall(tree)
    spec = yaml.safe_load((tree / "trainer" / "buildspec.yml").read_text())
    commands = _local_commands(spec)
    assert any("imagebuild.preflight" in cmd for _, cmd in commands), commands

    # Each command, then its exit code to a file: a failing command is named, not just "1".
    codes = tmp_path / "codes"
    script = "".join(
        f"{cmd}\nprintf '%s %s\\n' {i} $? >> {shlex.quote(str(codes))}\n"
        for i, (_, cmd) in enumerate(commands)
    )
    # `python3` is the interpreter running these tests: its packaging is the version the
    # buildspec's install phase pins (test_preflight_cli checks the pin). PIP_NO_INDEX keeps that pip
    # install offline and honest: it passes because the pinned version is already installed
    # ("Requirement already satisfied"), and fails instead of downloading anything.
    python3 = Path(sys.executable).with_name("python3")
    python3 = python3 if python3.exists() else Path(shutil.which("python3") or sys.executable)
    env = {
        "PATH": f"{python3.parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PIP_NO_INDEX": "1",
        **{k: str(v) for k, v in spec.get("env", {}).get("variables", {}).items()},
        **CODEBUILD_ENV,
        "CODEBUILD_SRC_DIR": str(tree),
        **codebuild_env,
    }
    proc = subprocess.run(
        ["bash", "-c", script], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )
    ran = dict(line.split() for line in codes.read_text().splitlines()) if codes.exists() else {}
    assert len(ran) == len(commands), (proc.stdout, proc.stderr)
    failed = [
        f"{commands[int(i)][0]}: {commands[int(i)][1]!r} exited {rc}"
        for i, rc in ran.items()
        if rc != "0"
    ]
    assert not failed, "\n".join(failed) + "\n" + proc.stdout[-2000:] + proc.stderr[-2000:]
    return tree, proc.stdout


def _image_tags(stdout: str) -> list[str]:
    (line,) = [ln for ln in stdout.splitlines() if ln.startswith("image tags: ")]
    return line.removeprefix("image tags: ").split()


def test_real_bundle_runs_every_local_buildspec_command(tmp_path: Path):
    tree, stdout = _run_bundle_locally(tmp_path)
    assert f"building {CODEBUILD_ENV['REPOSITORY_URI']}:git-0123456789ab" in stdout
    # A `pulumi up` or nightly build (no webhook trigger) writes its one tag only.
    assert _image_tags(stdout) == ["git-0123456789ab"]

    dockerfile = (tree / "trainer" / "Dockerfile").read_text()
    copied = _copy_sources(dockerfile)
    assert copied and all((tree / src).exists() for src in copied), [
        src for src in copied if not (tree / src).exists()
    ]


# CODEBUILD_WEBHOOK_TRIGGER is `branch/<name>`, `tag/<name>` or `pr/<number>` on webhook builds
# (AWS CodeBuild User Guide, "Environment variables in build environments").
@pytest.mark.parametrize(
    "trigger, release",
    [
        ("tag/v1.2.3", "v1.2.3"),
        ("tag/v1.2.3-rc.1", "v1.2.3-rc.1"),
        ("branch/main", None),
        ("tag/v1.2", None),  # not X.Y.Z
        ("tag/v1.2.3+build.5", None),  # `+` cannot be in an image tag
        ("tag/nightly", None),
    ],
)
def test_a_pushed_release_tag_also_tags_the_image(tmp_path: Path, trigger: str, release):
    _, stdout = _run_bundle_locally(tmp_path, CODEBUILD_WEBHOOK_TRIGGER=trigger)
    commit_tag = "git-0123456789ab"
    assert _image_tags(stdout) == ([commit_tag, release] if release else [commit_tag])
