"""(rule, type, violating props, compliant props) for the rules guarding Kubernetes objects
added with the hardening table (policies/hardening.py)."""

from __future__ import annotations

K8S_CASES: list[tuple[str, str, dict, dict]] = []
