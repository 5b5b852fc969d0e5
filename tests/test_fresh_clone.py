"""A user's machine: a clone with nothing beside it, no CRD mirror and maybe no network.

The plan must run there to the end: it validates what it can and names, in one line, the kinds it
could not check. And nothing in the repository may lean on files outside it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout to clone")
    target = tmp_path_factory.mktemp("user") / "trainstack"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(target)], check=True)
    return target


def test_plan_runs_in_a_clone_with_nothing_beside_it(clone, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TRAINSTACK_CRD_DIR"}
    env.update(XDG_CACHE_HOME=str(tmp_path / "empty-cache"), PYTHONPATH=str(clone))
    assert not (clone.parent / "shared").exists()
    done = subprocess.run(
        [sys.executable, "-m", "trainstack", "plan", "--stack", "dev"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output
    assert "Offline plan of stack 'dev'" in done.stdout  # `python -m trainstack` itself
    objects = next(
        line for line in done.stdout.splitlines() if line.startswith("Kubernetes objects:")
    )
    # Either the pinned CRDs could be downloaded (a machine with internet) and everything was
    # checked, or the one line says which kinds were not and how to get their CRDs.
    assert "all valid against the Kubernetes schemas and upstream CRDs" in objects or (
        "not checked against their upstream CRDs" in objects
        and "make crds" in objects
        and "PyTorchJob" in objects
    )
    assert (clone / "build" / "plan" / "dev" / "resources.json").is_file()


def test_the_repository_refers_to_nothing_outside_itself():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("needs a git checkout")
    # Spelled in pieces so that this file does not match itself.
    outside = ("../" + "shared", "/" + "work/")
    found = []
    for name in tracked.stdout.splitlines():
        # CI's own script may name the CI machine's mirror; nothing else may.
        if name.startswith(".ci/") or not (ROOT / name).is_file():
            continue
        text = (ROOT / name).read_text(encoding="utf-8", errors="replace")
        found += [f"{name}: {needle}" for needle in outside if needle in text]
    assert found == []
