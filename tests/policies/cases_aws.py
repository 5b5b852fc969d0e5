"""(rule, type, violating props, compliant props) for the rules guarding AWS resources added
with the hardening table (policies/hardening.py)."""

from __future__ import annotations

AWS_CASES: list[tuple[str, str, dict, dict]] = []
