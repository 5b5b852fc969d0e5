"""ECR repositories hold the trainer image every job runs: scan it, never let a tag move."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .base import MANDATORY, Planned, Rule, StackRule, get, truthy

TYPES = ("aws:ecr/repository:Repository",)
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"


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


def unmanaged_repositories(
    resources: Sequence[Planned], _cfg: Mapping[str, Any]
) -> list[tuple[Any, str]]:
    """Repositories without a lifecycle policy: old images pile up and stay pullable, with the
    vulnerabilities scans found in them (FSBP ECR.3)."""
    policies = [p for _h, t, p, _n in resources if t == LIFECYCLE]
    if any(not p.get("repository") for p in policies):
        return []  # a repository name not known yet (a preview of a new stack)
    covered = {str(p["repository"]) for p in policies}
    return [
        (
            handle,
            f"repository {props.get('name') or (names[0] if names else '?')} has no lifecycle "
            "policy: declare an aws.ecr.LifecyclePolicy that expires old images",
        )
        for handle, type_, props, names in resources
        if type_ in TYPES and not ({props.get("name"), *names} & covered)
    ]


RULES = [
    Rule(
        "ecr-scan-on-push",
        "ECR repositories scan images on push.",
        MANDATORY,
        TYPES,
        _scan,
        controls=("FSBP ECR.1",),
    ),
    Rule(
        "ecr-immutable-tags",
        "ECR image tags are immutable.",
        MANDATORY,
        TYPES,
        _immutable,
        controls=("FSBP ECR.2",),
    ),
    # Mandatory: the stack encrypts every repository with KMS, so going back to AES256 is a
    # weakening the pack must refuse (FSBP's ECR.5, customer managed keys, is not in the FSBP
    # standard; the engine cache keeps ECR's AWS managed key, see components/engine_image.py).
    Rule(
        "ecr-kms-encryption",
        "ECR repositories are encrypted with a KMS key.",
        MANDATORY,
        TYPES,
        _kms,
    ),
]
STACK_RULES = [
    StackRule(
        "ecr-lifecycle-policy",
        "Every ECR repository has a lifecycle policy.",
        MANDATORY,
        unmanaged_repositories,
        controls=("FSBP ECR.3",),
    ),
]
