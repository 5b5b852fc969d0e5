"""Stack-wide check: a bucket's protections are separate resources, so a per-resource rule
cannot see a bucket that has none. Pure, over the whole stack's Planned resources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import aws
from .base import MANDATORY, Planned, StackRule

BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
NEEDS = {
    "encryption": aws.SSE,
    "versioning": aws.VERSIONING,
    "a public access block": aws.PUBLIC_BLOCK,
}


def bucket_violations(
    resources: Sequence[Planned], _cfg: Mapping[str, Any]
) -> list[tuple[Any, str]]:
    """A protection names its bucket in its `bucket` input; a bucket is known by its logical
    name, ID or `bucket` output, whichever the caller can supply."""
    covered: dict[str, set[str]] = {k: set() for k in NEEDS}
    for _, type_, props, _ in resources:
        for what, types in NEEDS.items():
            if type_ in types and props.get("bucket"):
                covered[what].add(str(props["bucket"]))
    out = []
    for handle, type_, _props, names in resources:
        if type_ not in BUCKETS:
            continue
        label = names[0] if names else "?"
        missing = [what for what in NEEDS if not set(names) & covered[what]]
        if missing:
            out.append(
                (
                    handle,
                    (
                        f"bucket {label} has no {', '.join(missing)}: declare the "
                        "matching aws.s3.Bucket* resources for it"
                    ),
                )
            )
    return out


STACK_RULES = [
    StackRule(
        "s3-bucket-protected",
        "Every S3 bucket has default encryption, versioning and a public access block.",
        MANDATORY,
        bucket_violations,
    ),
]
