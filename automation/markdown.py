"""The run's summary as Markdown for `$GITHUB_STEP_SUMMARY` or a pull-request comment: what
changes by component, the policy result, the GPU ceiling and hourly cost before and after, and
the failure if there was one. Plain GitHub-flavoured Markdown (tables, no HTML)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from automation.changes import COUNTED_OPS, resource_label

_VERB = {
    "succeeded": "succeeded",
    "failed": "failed",
    "policy-violation": "refused by a mandatory policy",
    "drift": "found drift",
}


def cell(value: Any) -> str:
    """One table cell: a `|` would end the cell and a newline the row."""
    return " ".join(str(value).split()).replace("|", "\\|")


def _table(header: list[str], rows: list[list[Any]], right_from: int = 1) -> list[str]:
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    return lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]


def _changes(summary: Mapping[str, Any]) -> list[str]:
    lines = ["### Changes by component", ""]
    by_component = summary.get("changes_by_component")
    if by_component is None:
        return lines + [
            "The preview did not run: this summary was made offline (`python -m automation "
            "summary`), without the Pulumi CLI or the stack's state. The policy rules and the "
            "prices below come from the offline plan of the stack file.",
            "",
        ]
    same = (summary.get("change_summary") or {}).get("same")
    if not by_component:
        tail = f" ({same} resources unchanged)" if same else ""
        return lines + [f"No resource changes{tail}.", ""]
    rows = [[name, *(c[op] for op in COUNTED_OPS)] for name, c in by_component.items()]
    rows.append(["**Total**", *(sum(c[op] for c in by_component.values()) for op in COUNTED_OPS)])
    lines += _table(["Component", *COUNTED_OPS], rows)
    if same:
        lines += ["", f"{same} resources unchanged."]
    return lines + [""]


def _policy(summary: Mapping[str, Any]) -> list[str]:
    lines = ["### Policy", ""]
    packs = summary.get("policy_packs") or []
    violations = summary.get("policy_violations") or []
    if not packs and not violations:
        return lines + ["No policy pack ran (`--policy-pack policies` runs the project's).", ""]
    mandatory = [v for v in violations if v.get("level") == "mandatory"]
    advisory = [v for v in violations if v.get("level") != "mandatory"]
    verdict = "refused" if mandatory else "passed"
    lines.append(
        f"**{verdict}**: {len(mandatory)} mandatory, {len(advisory)} advisory violation(s) "
        f"(packs: {', '.join(f'`{p}`' for p in packs) or 'reported by the engine'})."
    )
    if violations:
        rows = [
            [
                v.get("level", ""),
                f"{v.get('pack', '')}/{v.get('policy', '')}"
                + (f" ({', '.join(v['controls'])})" if v.get("controls") else ""),
                resource_label(v.get("urn") or "") or "(stack)",
                v.get("message", ""),
            ]
            for v in mandatory + advisory
        ]
        lines += ["", *_table(["Level", "Pack/rule", "Resource", "Message"], rows, right_from=9)]
    return lines + [""]


def _usd(x: float) -> str:
    return f"${x:,.2f}/h"


def _signed_usd(x: float) -> str:
    if round(x, 2) == 0:
        return "$0.00/h"
    return f"{'+' if x > 0 else '-'}${abs(x):,.2f}/h"


def _cost(summary: Mapping[str, Any]) -> list[str]:
    cost = summary.get("cost_impact")
    if not cost:
        return []
    before, after = cost["before"], cost["after"]
    priced = [s for s in (before, after) if "gpu_ceiling" in s]
    dates = sorted({s["prices_date"] for s in priced})
    heading = "### GPU ceiling and hourly cost"
    if dates:
        heading += f" (on-demand list prices of {', '.join(dates)}, USD)"
    rows = []
    for label, key, fmt, signed in (
        ("Max GPUs", "gpu_ceiling", str, lambda d: f"{d:+d}" if d else "0"),
        ("Idle $/h", "idle_hourly", _usd, _signed_usd),
        ("Ceiling $/h (every pool at its max)", "ceiling_hourly", _usd, _signed_usd),
    ):
        b = fmt(before[key]) if key in before else "n/a"
        a = fmt(after[key]) if key in after else "n/a"
        d = signed(after[key] - before[key]) if key in before and key in after else "n/a"
        rows.append([label, b, a, d])
    lines = [heading, "", *_table(["", "Before", "After", "Delta"], rows), ""]
    lines += [f"- Before: {before['note']}", f"- After: {after['note']}"]
    regions = {s["region"] for s in priced}
    if len(regions) > 1:
        lines.append(f"- The region changes ({' -> '.join(s['region'] for s in priced)}).")
    return lines + [""]


def _failure(summary: Mapping[str, Any]) -> list[str]:
    if summary.get("result") == "drift":
        count = sum(c for op, c in (summary.get("change_summary") or {}).items() if op != "same")
        what = f"{count} change(s)" if count else "changes"
        return [
            "### Drift",
            "",
            f"The cloud has drifted from the stack: the preview proposes {what} where none "
            "were expected (`--expect-no-changes`). Run `pulumi refresh` and review, or "
            "`python -m automation up` to put the stack's state back.",
            "",
        ]
    if not summary.get("error"):
        return []
    error = str(summary["error"]).replace("```", "'''")
    return [
        "### Failure",
        "",
        f"The {summary['operation']} failed during `{summary.get('failed_phase') or '?'}`:",
        "",
        "```",
        error,
        "```",
        "",
    ]


def render(summary: Mapping[str, Any]) -> str:
    verb = _VERB.get(summary["result"], summary["result"])
    lines = [
        f"## trainstack `{cell(summary['stack'])}`: {summary['operation']} {verb} "
        f"(exit {summary['exit_code']})",
        "",
    ]
    lines += _failure(summary) + _changes(summary) + _policy(summary) + _cost(summary)
    return "\n".join(lines).rstrip() + "\n"


def write_markdown(path: Path, summary: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(summary), encoding="utf-8")
