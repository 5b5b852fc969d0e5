"""The Makefile's interpreter check (tools/check_python.py) against pyproject's requires-python."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import check_python  # noqa: E402  (a stdlib script, not a package)


def test_the_range_is_read_from_pyproject_and_admits_every_supported_python():
    low, high = check_python.admitted_range((ROOT / "pyproject.toml").read_text())
    # torch 2.13.0 and ray 2.60.0 publish wheels for CPython 3.10-3.13; the plan was run on each.
    for minor in (10, 11, 12, 13):
        assert check_python.message((3, minor), low, high) is None


@pytest.mark.parametrize("version", [(3, 9), (3, 14), (2, 7)])
def test_an_interpreter_outside_the_range_is_refused_with_what_to_use(version):
    msg = check_python.message(version, (3, 10), (3, 14))
    assert msg is not None
    assert ">=3.10,<3.14" in msg and f"Python {version[0]}.{version[1]}" in msg
    assert "make PYTHON=python3.13" in msg


def test_a_malformed_requires_python_is_named():
    with pytest.raises(SystemExit, match="requires-python"):
        check_python.admitted_range('requires-python = ">=3.10"\n')


def test_the_script_passes_on_this_interpreter():
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "check_python.py")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
