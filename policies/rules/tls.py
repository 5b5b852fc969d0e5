"""TLS only: every bucket, queue and topic the stack creates refuses requests that arrive without
TLS, by a Deny to everyone under `aws:SecureTransport` "false" in its resource policy.

The statement's shape follows the FSBP S3.5 control page (Action `s3:*` on the bucket and its
objects, Principal "*", Condition Bool aws:SecureTransport "false"); SQS and SNS read the same
global condition key (IAM User Guide, "AWS global condition context keys"), and the SNS
developer guide's security best practices deny `sns:Publish` without it. A Bool condition on a
key a request does not carry does not match, so the Deny never blocks AWS services' own TLS calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import policy_docs as pd
from .base import MANDATORY, Planned, Rule, StackRule

BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
QUEUE = "aws:sqs/queue:Queue"
TOPIC = "aws:sns/topic:Topic"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"

# The actions the Deny must reach: a sample across each API (a Deny on `s3:Get*` alone would
# leave writes open), SNS's being the publish path its guide names.
MUST_DENY = {
    BUCKET_POLICY: ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"),
    QUEUE_POLICY: ("sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage"),
    TOPIC_POLICY: ("sns:Publish",),
}
FIX = {
    BUCKET_POLICY: 'Action "s3:*" on the bucket ARN and "<bucket ARN>/*"',
    QUEUE_POLICY: 'Action "sqs:*" on the queue ARN',
    TOPIC_POLICY: 'Action "sns:Publish" on the topic ARN',
}


def _insecure_transport_only(st: Mapping[str, Any]) -> bool:
    conds = list(pd.conditions(st))
    return len(conds) == 1 and all(
        op in ("Bool", "BoolIfExists")
        and key == "aws:securetransport"
        and [str(v).lower() for v in values] == ["false"]
        for op, key, values in conds
    )


def _reaches_objects(resources: list[str]) -> bool:
    # The bucket itself and every object key: `arn:...:::b` and `arn:...:::b/*` (or `*`).
    paths = [r.split(":::", 1)[-1] for r in resources]
    return any(
        r == "*" or (p.endswith("/*") and "/" in p) for r, p in zip(resources, paths)
    ) and any(r == "*" or "/" not in p for r, p in zip(resources, paths))


def denies_insecure_transport(type_: str, policy: Any) -> bool:
    """Whether the policy holds the TLS-only Deny for its kind of resource."""
    for _label, st in pd.statements(policy):
        if st.get("Effect") != "Deny" or not pd.names_everyone(st) or "NotPrincipal" in st:
            continue
        if not _insecure_transport_only(st) or "NotAction" in st or "NotResource" in st:
            continue
        acts = pd.action_patterns(st)
        if not all(pd.covers(acts, a) for a in MUST_DENY[type_]):
            continue
        res = pd.resources(st)
        if res and (type_ != BUCKET_POLICY or _reaches_objects(res)):
            return True
    return False


def _tls_only(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    if denies_insecure_transport(type_, props.get("policy")):
        return []
    return [
        (
            'the policy lets requests in without TLS: add a Deny for Principal "*" with '
            f'Condition {{"Bool": {{"aws:SecureTransport": "false"}}}} and {FIX[type_]}'
        )
    ]


def _target(type_: str, props: Mapping[str, Any]) -> str:
    key = {BUCKET_POLICY: "bucket", QUEUE_POLICY: "queueUrl", TOPIC_POLICY: "arn"}[type_]
    return str(props.get(key) or "")


def _is_target(type_: str, target: str, props: Mapping[str, Any], names: tuple[str, ...]) -> bool:
    """Whether a policy's bucket / queue URL / topic ARN is this resource, by whichever of its
    names the caller knows (the offline plan: logical name and ID; CrossGuard: its outputs)."""
    if target in names or target in (props.get("url"), props.get("arn")):
        return True
    name = str(props.get("name") or "")
    return bool(name) and type_ != BUCKET_POLICY and target.endswith(("/" + name, ":" + name))


KINDS = (
    (BUCKETS, BUCKET_POLICY, "bucket"),
    ((QUEUE,), QUEUE_POLICY, "queue"),
    ((TOPIC,), TOPIC_POLICY, "topic"),
)


def missing_tls_policies(
    resources: Sequence[Planned], _cfg: Mapping[str, Any]
) -> list[tuple[Any, str]]:
    out = []
    for stores, policy_type, what in KINDS:
        policies = [(_target(t, p), p) for _h, t, p, _n in resources if t == policy_type]
        # A policy whose target is not known yet (a preview of a new stack) could be anyone's:
        # judge this kind only once every target is known.
        if any(not target for target, _p in policies):
            continue
        for handle, type_, props, names in resources:
            if type_ not in stores:
                continue
            mine = [p for target, p in policies if _is_target(policy_type, target, props, names)]
            if not any(denies_insecure_transport(policy_type, p.get("policy")) for p in mine):
                label = names[0] if names else "?"
                out.append(
                    (
                        handle,
                        f"{what} {label} has no resource policy refusing requests without TLS: "
                        f"attach one with the aws:SecureTransport Deny ({FIX[policy_type]})",
                    )
                )
    return out


RULES = [
    Rule(
        "resource-policy-tls-only",
        "Bucket, queue and topic policies deny every request made without TLS.",
        MANDATORY,
        tuple(MUST_DENY),
        _tls_only,
        controls=("FSBP S3.5",),
    ),
]
STACK_RULES = [
    StackRule(
        "tls-only-policy-attached",
        "Every bucket, queue and topic has a resource policy that refuses requests without TLS.",
        MANDATORY,
        missing_tls_policies,
        controls=("FSBP S3.5",),
    ),
]
