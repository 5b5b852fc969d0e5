"""The CIS Amazon EKS Benchmark's Kubernetes policies section (RBAC and service accounts, Pod
Security Standards, network policies, secrets, general policies)."""

from __future__ import annotations

from .baselines import Baseline, Control

CIS_EKS = Baseline(
    name="CIS Amazon EKS Benchmark",
    version="",
    source="",
    controls=(),
)
_ = Control
