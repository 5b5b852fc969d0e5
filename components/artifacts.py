"""Artifacts: the S3 bucket of training data, checkpoints and models, and the job identity.

The bucket is private (components/buckets.py) under its own rotated KMS key. EKS Pod Identity
hands the `training` ServiceAccount of the jobs namespace a role that may read `data/` and read,
write and delete under `checkpoints/` and `models/`, and nothing else; the Pod Identity agent
add-on the cluster installs (components/cluster.py) serves those credentials to the pods.
The ServiceAccount itself is declared with the jobs namespace (components/workloads.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from . import aws_names
from .buckets import private_bucket
from .config import PROJECT, ArtifactsConfig
from .config.artifacts import CHECKPOINTS_PREFIX, DATA_PREFIX, MODELS_PREFIX
from .iam import pod_identity_role
from .kms import rotated_key

READ_ACTIONS = ("s3:GetObject",)
# A multipart upload (boto3's upload_file above 8 MiB) that fails is aborted by the client;
# ListMultipartUploadParts lets it resume one.
WRITE_ACTIONS = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)
# SSE-KMS: reading needs Decrypt, writing GenerateDataKey (and Decrypt for multipart uploads,
# which S3 decrypts the data key of to assemble the parts).
KMS_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
# The versioned bucket keeps what the trainer prunes (trainer/s3_retention.py) as noncurrent
# versions, and the parts of a multipart upload cut short (a killed pod) until they are aborted;
# both are billed as storage until these rules remove them.
NONCURRENT_DAYS = 7  # time to undo a mistaken delete
ABORT_MULTIPART_DAYS = 2  # longer than any upload runs


def render_lifecycle_rules(
    noncurrent_days: int = NONCURRENT_DAYS, abort_days: int = ABORT_MULTIPART_DAYS
) -> list[dict[str, Any]]:
    """aws.s3.BucketLifecycleConfiguration's rules (pulumi-aws 7.x; S3 PutBucketLifecycle-
    Configuration's LifecycleRule in botocore's s3 2006-03-01 model: NoncurrentVersionExpiration.
    NoncurrentDays, AbortIncompleteMultipartUpload.DaysAfterInitiation, Expiration.
    ExpiredObjectDeleteMarker, a Filter with an empty Prefix for the whole bucket)."""
    return [
        {
            "id": "expire-noncurrent-versions",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "noncurrent_version_expiration": {"noncurrent_days": noncurrent_days},
            # A delete marker with no versions left behind it is removed too.
            "expiration": {"expired_object_delete_marker": True},
        },
        {
            "id": "abort-incomplete-multipart-uploads",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "abort_incomplete_multipart_upload": {"days_after_initiation": abort_days},
        },
    ]


def render_job_policy(bucket_arn: str, key_arn: str) -> dict[str, Any]:
    """The job role's permissions: list and read `data/`, read-write `checkpoints/` and
    `models/` of this bucket, with this key."""
    prefixes = (DATA_PREFIX, CHECKPOINTS_PREFIX, MODELS_PREFIX)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                # ListBucket is a bucket action: its objects are limited by the s3:prefix key.
                "Sid": "ListArtifacts",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": bucket_arn,
                "Condition": {
                    "StringLike": {"s3:prefix": [p for pre in prefixes for p in (pre, f"{pre}*")]}
                },
            },
            {
                "Sid": "ReadData",
                "Effect": "Allow",
                "Action": list(READ_ACTIONS),
                "Resource": f"{bucket_arn}/{DATA_PREFIX}*",
            },
            {
                "Sid": "WriteCheckpointsAndModels",
                "Effect": "Allow",
                "Action": list(WRITE_ACTIONS),
                "Resource": [
                    f"{bucket_arn}/{CHECKPOINTS_PREFIX}*",
                    f"{bucket_arn}/{MODELS_PREFIX}*",
                ],
            },
            {
                "Sid": "BucketKey",
                "Effect": "Allow",
                "Action": list(KMS_ACTIONS),
                "Resource": key_arn,
            },
        ],
    }


@dataclass
class ArtifactsArgs:
    config: ArtifactsConfig
    cluster: str  # the cluster's configured name (bucket and alias names derive from it)
    cluster_name: pulumi.Input[str]  # the EKS cluster's name output (the association's input)
    namespace: str
    # The Pod Identity agent add-on: credentials reach pods only once it runs.
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


class Artifacts(pulumi.ComponentResource):
    bucket: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ArtifactsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{PROJECT}:artifacts:Artifacts", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags
        key = rotated_key(
            f"{name}-key",
            f"{args.cluster}: training data, checkpoints and models",
            tags,
            child,
            alias=aws_names.artifacts_kms_alias(args.cluster),
        )
        # No force_destroy: trained models are the only copy; `destroy` stops at a full bucket.
        bucket = private_bucket(
            f"{name}-bucket",
            bucket_prefix=aws_names.artifacts_bucket_prefix(args.cluster),
            key=key,
            tags=tags,
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-bucket", bucket=bucket.id, rules=render_lifecycle_rules(), opts=child
        )
        role = pod_identity_role(f"{name}-job", child, tags)
        policy = aws.iam.RolePolicy(
            f"{name}-job",
            role=role.id,
            policy=pulumi.Output.all(bucket.arn, key.arn).apply(
                lambda a: json.dumps(render_job_policy(a[0], a[1]))
            ),
            opts=child,
        )
        # Pods of the jobs' ServiceAccount wait for it (workloads.py, runtime_contract.py).
        self.association = aws.eks.PodIdentityAssociation(
            f"{name}-job",
            cluster_name=args.cluster_name,
            namespace=args.namespace,
            service_account=args.config.service_account,
            role_arn=role.arn,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, *args.depends_on]),
        )
        self.bucket = bucket.bucket
        self.bucket_arn = bucket.arn
        self.key_arn = key.arn  # an FSx data repository association grants on it (fsx.py)
        self.role_arn = role.arn
        self.register_outputs({"bucket": self.bucket, "roleArn": self.role_arn})
