"""The run's summary: one dict that is both printed for the CI log and written as JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SECRET_MASK = "[secret]"

# Console order: the ops a reviewer cares about first, the unchanged count last.
_OP_ORDER = (
    "create",
    "update",
    "replace",
    "delete",
    "create-replacement",
    "delete-replaced",
    "import",
    "read",
    "refresh",
    "discard",
    "same",
)


def mask_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Stack outputs as plain JSON values; secret ones replaced by the mask.

    `Stack.outputs()` fetches plaintext (it runs `stack output --show-secrets` to learn which keys
    are secret), so masking here is what keeps secrets out of logs and the summary file.
    """
    masked: dict[str, Any] = {}
    for key in sorted(outputs):
        value = outputs[key]
        masked[key] = SECRET_MASK if getattr(value, "secret", False) else value.value
    return masked


def scrub(text: str, secrets: list[str]) -> str:
    """Text with every known secret value masked: an error from the CLI may quote a value."""
    for value in sorted(secrets, key=len, reverse=True):
        text = text.replace(value, SECRET_MASK)
    return text


def normalise_changes(changes: Mapping[Any, int] | None) -> dict[str, int]:
    # Keys arrive as OpType members or plain strings depending on the SDK path; JSON needs str.
    out: dict[str, int] = {}
    for op, count in (changes or {}).items():
        name = getattr(op, "value", op)
        out[str(name)] = int(count)
    return out


def ordered_changes(changes: Mapping[str, int]) -> list[tuple[str, int]]:
    rank = {op: i for i, op in enumerate(_OP_ORDER)}
    return sorted(changes.items(), key=lambda kv: (rank.get(kv[0], len(rank) - 1), kv[0]))


def build_summary(
    *,
    operation: str,
    stack: str,
    result: str,
    exit_code: int,
    changes: Mapping[Any, int] | None,
    outputs: Mapping[str, Any] | None,
    policy_violations: list[dict[str, Any]],
    duration_seconds: float,
    policy_packs: list[str],
    config_keys: list[str],
    phase: str | None = None,
    error: str | None = None,
    changes_by_component: Mapping[str, Mapping[str, int]] | None = None,
    cost_impact: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`changes_by_component` None means no preview ran (the offline summary); `cost_impact`
    is impact.impact()'s before/after, None where the operation does not change the stack."""
    summary: dict[str, Any] = {
        "operation": operation,
        "stack": stack,
        "result": result,
        "exit_code": exit_code,
        "change_summary": normalise_changes(changes),
        "outputs": mask_outputs(outputs or {}),
        "policy_packs": list(policy_packs),
        "policy_violations": list(policy_violations),
        "config_keys": list(config_keys),
        "duration_seconds": round(duration_seconds, 3),
        "changes_by_component": (
            None
            if changes_by_component is None
            else {k: dict(v) for k, v in changes_by_component.items()}
        ),
        "cost_impact": dict(cost_impact) if cost_impact is not None else None,
    }
    if phase is not None:
        summary["failed_phase"] = phase
    if error is not None:
        summary["error"] = error
    return summary


def _render(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def format_console(summary: Mapping[str, Any]) -> str:
    lines = [f"Changes ({summary['operation']} of {summary['stack']}):"]
    changes = summary["change_summary"]
    if changes:
        lines += [f"  {op}: {count}" for op, count in ordered_changes(changes)]
    elif summary.get("changes_by_component", {}) is None:
        lines.append("  (no preview ran: offline summary)")
    else:
        lines.append("  (none reported)")
    if summary["outputs"]:
        lines.append("Outputs:")
        lines += [f"  {key}: {_render(val)}" for key, val in summary["outputs"].items()]
    if summary["policy_violations"]:
        lines.append("Policy violations:")
        for v in summary["policy_violations"]:
            where = f" ({v['urn']})" if v.get("urn") else ""
            lines.append(f"  [{v['level']}] {v['pack']}/{v['policy']}: {v['message']}{where}")
    lines.append(
        f"Result: {summary['result']} (exit {summary['exit_code']}) "
        f"in {summary['duration_seconds']:.1f}s"
    )
    return "\n".join(lines)


def write_summary(path: Path, summary: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
