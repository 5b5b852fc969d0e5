"""ECR repositories hold the trainer image every job runs: scan it, never let a tag move."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import ADVISORY, MANDATORY, Rule, get, truthy

TYPES = ("aws:ecr/repository:Repository",)


def _scan(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    if truthy(get(props, "imageScanningConfiguration.scanOnPush")):
        return []
    return ["images are not scanned on push: set imageScanningConfiguration.scanOnPush: true"]


def _immutable(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    # A mutable tag lets a push silently change what a running job's next pod pulls.
    if str(props.get("imageTagMutability") or "MUTABLE").startswith("IMMUTABLE"):
        return []
    return ["image tags are mutable: set imageTagMutability: IMMUTABLE"]


def _kms(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    kinds = [c.get("encryptionType") for c in props.get("encryptionConfigurations") or []]
    if "KMS" in kinds:
        return []
    return [
        (
            "the repository is encrypted with the AES256 default only: add "
            "encryptionConfigurations [{encryptionType: KMS, kmsKey: <key arn>}]"
        )
    ]


RULES = [
    Rule("ecr-scan-on-push", "ECR repositories scan images on push.", MANDATORY, TYPES, _scan),
    Rule("ecr-immutable-tags", "ECR image tags are immutable.", MANDATORY, TYPES, _immutable),
    Rule(
        "ecr-kms-encryption",
        "ECR repositories are encrypted with a KMS key.",
        ADVISORY,
        TYPES,
        _kms,
    ),
]
