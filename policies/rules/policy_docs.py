"""Reading IAM and resource policy documents, for the rules over trust, resource and TLS policies.

Grammar as the IAM User Guide's "IAM JSON policy elements reference" gives it: Statement is one
object or a list; Principal is "*" or a map of kind ("AWS", "Service", "Federated") to one value
or a list; Action and Resource are a string or a list, matched case-insensitively with `*`/`?`;
Condition maps an operator ("StringEquals", "ForAnyValue:StringLike", "...IfExists") to keys
(case-insensitive) and their values.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator, Mapping
from typing import Any


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def document(policy: Any) -> Mapping[str, Any]:
    """The policy as a mapping, whether it came as JSON text or already parsed."""
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return {}
    return policy if isinstance(policy, Mapping) else {}


def statements(policy: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(label, statement): the Sid, or Statement[i] when there is none."""
    for i, st in enumerate(as_list(document(policy).get("Statement"))):
        if isinstance(st, Mapping):
            yield str(st.get("Sid") or f"Statement[{i}]"), st


def allows(st: Mapping[str, Any]) -> bool:
    return st.get("Effect") == "Allow"


def principals(st: Mapping[str, Any]) -> dict[str, list[str]]:
    """Principal kind -> values; `"*"` (everyone) comes back as {"*": ["*"]}."""
    p = st.get("Principal")
    if p == "*":
        return {"*": ["*"]}
    if not isinstance(p, Mapping):
        return {}
    return {str(k): [str(v) for v in as_list(vs)] for k, vs in p.items()}


def names_everyone(st: Mapping[str, Any]) -> bool:
    """Principal "*" or {"AWS": "*"}; an Allow with NotPrincipal grants everyone else, so it
    counts as everyone too."""
    ps = principals(st)
    return "*" in ps or "*" in ps.get("AWS", []) or "NotPrincipal" in st


def conditions(st: Mapping[str, Any]) -> Iterator[tuple[str, str, list[Any]]]:
    """(operator, lower-cased key, values) of every condition of a statement."""
    cond = st.get("Condition")
    if not isinstance(cond, Mapping):
        return
    for op, keys in cond.items():
        if isinstance(keys, Mapping):
            for key, values in keys.items():
                yield str(op), str(key).lower(), as_list(values)


def fixed(values: list[Any]) -> bool:
    """Values with no wildcard or policy variable: Security Hub evaluates only such conditions
    (the FSBP S3.2, SNS.4 and KMS.5 control pages note it)."""
    return bool(values) and not any(c in str(v) for v in values for c in ("*", "?", "${"))


def restricts_by(st: Mapping[str, Any], keys: set[str]) -> bool:
    """Whether a positive (not negated) condition pins one of `keys` to fixed values."""
    return any(
        key in keys and "Not" not in op and fixed(values) for op, key, values in conditions(st)
    )


def action_patterns(st: Mapping[str, Any]) -> list[str]:
    return [str(a) for a in as_list(st.get("Action"))]


def covers(patterns: list[str], action: str) -> bool:
    """Whether an Action list reaches `action` (IAM matches action names case-insensitively)."""
    return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)


def resources(st: Mapping[str, Any]) -> list[str]:
    return [str(r) for r in as_list(st.get("Resource"))]
