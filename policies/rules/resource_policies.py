"""Resource policies (bucket, queue, topic, KMS key, ECR repository, secret): whom they let in.

- Everyone ("*", {"AWS": "*"}, or NotPrincipal) only under a condition that pins the caller or
  its source to fixed values. The keys are the ones the S3 API reference (PublicAccessBlock-
  Configuration) lists as making a policy non-public (aws:SourceArn, aws:SourceVpc(e),
  aws:SourceOwner, aws:SourceAccount, aws:SourceIp, aws:userid), and the aws:Principal* keys
  that name the caller's account, organization or ARN.
- A service principal only for this stack's sources (aws:SourceArn / aws:SourceAccount /
  aws:SourceOwner): otherwise any other customer's resource of that service could make the
  service act on ours (the IAM User Guide's "The confused deputy problem").
- Bucket policies grant nothing: the stack gives access through its roles' IAM policies, so a
  bucket policy holds only Deny statements (TLS only) and any Allow would be a grant to some
  principal no role policy describes, possibly in another account (FSBP S3.6).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from . import policy_docs as pd
from .base import MANDATORY, Rule

BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
KMS_KEY = "aws:kms/key:Key"
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
ECR_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
SECRET_POLICY = "aws:secretsmanager/secretPolicy:SecretPolicy"
TYPES = (BUCKET_POLICY, QUEUE_POLICY, TOPIC_POLICY, KMS_KEY, KEY_POLICY, ECR_POLICY, SECRET_POLICY)

NON_PUBLIC_KEYS = {
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceowner",
    "aws:sourceaccount",
    "aws:sourceip",
    "aws:userid",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalorgid",
}
SOURCE_KEYS = {"aws:sourcearn", "aws:sourceaccount", "aws:sourceowner"}


def _allow_statements(props: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    return ((label, st) for label, st in pd.statements(props.get("policy")) if pd.allows(st))


def _not_public(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    return [
        (
            f'{label} allows everyone (Principal "*") with no condition pinning who or from '
            "where: name the principals, or add a fixed aws:SourceArn / aws:SourceAccount / "
            "aws:PrincipalAccount condition"
        )
        for label, st in _allow_statements(props)
        if pd.names_everyone(st) and not pd.restricts_by(st, NON_PUBLIC_KEYS)
    ]


def _service_scoped(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    return [
        (
            f"{label} lets {services} act for any resource of theirs, in any account: add a "
            "fixed aws:SourceArn (the stack's rule, bucket, ...) or aws:SourceAccount condition"
        )
        for label, st in _allow_statements(props)
        if (services := pd.principals(st).get("Service")) and not pd.restricts_by(st, SOURCE_KEYS)
    ]


def _bucket_grants_nothing(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    return [
        (
            f"bucket policy {label} grants access: grant it in the role's IAM policy instead "
            "(the stack's bucket policies only deny)"
        )
        for label, _st in _allow_statements(props)
    ]


RULES = [
    Rule(
        "resource-policy-not-public",
        'Resource policies let nobody in as everyone ("*") without a condition pinning the '
        "caller's account, organization or source.",
        MANDATORY,
        TYPES,
        _not_public,
        controls=("FSBP S3.2", "FSBP S3.3", "FSBP SQS.3", "FSBP SNS.4", "FSBP KMS.5"),
    ),
    Rule(
        "resource-policy-service-scoped",
        "Resource policies grant AWS service principals access only for the stack's own "
        "sources (aws:SourceArn / aws:SourceAccount).",
        MANDATORY,
        TYPES,
        _service_scoped,
    ),
    Rule(
        "s3-bucket-policy-grants-nothing",
        "Bucket policies only deny: access to a bucket is granted by the roles' IAM policies.",
        MANDATORY,
        (BUCKET_POLICY,),
        _bucket_grants_nothing,
        controls=("FSBP S3.6",),
    ),
]
