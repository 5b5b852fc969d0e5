"""The outcome of one doctor check (ok, warning, failed: what, why it matters, how to fix) and
the report printed from a list of them."""

from __future__ import annotations

from dataclasses import dataclass

OK, WARN, FAIL = "ok", "warn", "fail"
MARKS = {OK: "✔", WARN: "!", FAIL: "✘"}


class DoctorError(Exception):
    """doctor cannot start (no region, no credentials, ambiguous cluster): exit 2."""


@dataclass(frozen=True)
class Result:
    name: str
    status: str
    detail: str
    why: str = ""  # what breaks for a training job when this is not ok
    fix: str = ""


def ok(name: str, detail: str) -> Result:
    return Result(name, OK, detail)


def render(results: list[Result]) -> str:
    width = max((len(r.name) for r in results), default=0)
    lines = []
    for r in results:
        lines.append(f"{MARKS[r.status]} {r.name:<{width}}  {r.detail}")
        if r.status == FAIL:
            lines += [f"    why: {r.why}", f"    fix: {r.fix}"]
        elif r.status == WARN and r.fix:
            lines.append(f"    fix: {r.fix}")
    counts = {s: sum(r.status == s for r in results) for s in (OK, WARN, FAIL)}
    lines.append(f"{counts[OK]} ok, {counts[WARN]} warning(s), {counts[FAIL]} failed")
    return "\n".join(lines)


def exit_code(results: list[Result]) -> int:
    return 1 if any(r.status == FAIL for r in results) else 0
