"""Stop `make` at once, with a clear message, on a Python that pyproject.toml does not admit.

Run by the interpreter that would create the virtual environment, before anything is installed,
so it uses the standard library only and reads the range from pyproject.toml itself (Python 3.10
has no tomllib: the one line is found with a regular expression).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def admitted_range(text: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """(lowest admitted, first refused) minor versions from `requires-python = ">=A.B,<C.D"`."""
    m = re.search(
        r'^requires-python\s*=\s*"\s*>=\s*(\d+)\.(\d+)\s*,\s*<\s*(\d+)\.(\d+)\s*"', text, re.M
    )
    if not m:
        raise SystemExit(f'{PYPROJECT}: requires-python is not of the form ">=A.B,<C.D"')
    return (int(m[1]), int(m[2])), (int(m[3]), int(m[4]))


def message(version: tuple[int, int], low: tuple[int, int], high: tuple[int, int]) -> str | None:
    """None when `version` is admitted, else what to do."""
    if low <= version < high:
        return None
    newest = f"{high[0]}.{high[1] - 1}" if high[1] else f"{low[0]}.{low[1]}"
    return (
        f"trainstack needs Python >={low[0]}.{low[1]},<{high[0]}.{high[1]} "
        f"(its dependencies' wheels); this is Python {version[0]}.{version[1]} "
        f"({sys.executable}). Run with one of them, e.g. `make PYTHON=python{newest} ...`."
    )


def main() -> int:
    low, high = admitted_range(PYPROJECT.read_text(encoding="utf-8"))
    problem = message(sys.version_info[:2], low, high)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
