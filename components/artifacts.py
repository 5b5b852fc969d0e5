"""Artifacts: the S3 bucket of training data, checkpoints and models, and the job identity.

The bucket is private (components/buckets.py) under its own rotated KMS key. EKS Pod Identity
hands the `training` ServiceAccount of the jobs namespace a role that allows what the workloads
running under it declare in their contracts (artifacts_access.py: read `data/`, read, write and
delete under `checkpoints/` and `models/`), and nothing else; the Pod Identity agent
add-on the cluster installs (components/cluster.py) serves those credentials to the pods.
The model servers' pods have a ServiceAccount and role of their own that may only read `models/`
(artifacts_access.read_models). The ServiceAccounts themselves are declared with the jobs
namespace (components/workloads.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from . import artifacts_access, aws_names
from . import runtime_contract as rc
from .buckets import private_bucket
from .config import PROJECT, ArtifactsConfig
from .iam import pod_identity_role
from .kms import rotated_key

# The versioned bucket keeps what the trainer prunes (trainer/s3_retention.py) as noncurrent
# versions, and the parts of a multipart upload cut short (a killed pod) until they are aborted;
# both are billed as storage until these rules remove them.
# Time to undo a mistaken delete; and a model reader copying by an export's manifest
# (trainer/s3_models.py) fetches versions that a newer export made noncurrent a moment ago: S3
# counts these days from that moment, and a copy takes minutes, so 7 is ample.
NONCURRENT_DAYS = 7
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


def render_job_policy(
    access: Sequence[rc.AwsAccess], bucket_arn: str, key_arn: str
) -> dict[str, Any]:
    """The job role's permissions: what the contracts running under its ServiceAccount declare
    (artifacts_access.py), on this bucket and key."""
    return rc.render_identity_policy(access, artifacts_access.arns(bucket_arn, key_arn))


@dataclass
class ArtifactsArgs:
    config: ArtifactsConfig
    cluster: str  # the cluster's configured name (bucket and alias names derive from it)
    cluster_name: pulumi.Input[str]  # the EKS cluster's name output (the association's input)
    namespace: str
    # What the role allows: the statements of the contracts that run under the ServiceAccount
    # (runtime_contract.identity_access over workloads.stack_contracts).
    access: tuple[rc.AwsAccess, ...]
    # The model servers' own ServiceAccount and what its role allows (read `models/` only),
    # from the serving contracts (components/serving.py); no access: no second role.
    serving_service_account: str | None = None
    serving_access: tuple[rc.AwsAccess, ...] = ()
    # The Pod Identity agent add-on: credentials reach pods only once it runs.
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


class Artifacts(pulumi.ComponentResource):
    bucket: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str] | None

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
        self.association = self.role_arn = self.serving_association = None
        if args.access:  # no workload runs under the ServiceAccount: no role to hand it
            self.association, self.role_arn = self._identity(
                f"{name}-job", args.config.service_account, args.access, args, bucket, key
            )
        if args.serving_access and args.serving_service_account:
            self.serving_association, _ = self._identity(
                f"{name}-serving",
                args.serving_service_account,
                args.serving_access,
                args,
                bucket,
                key,
            )
        self.bucket = bucket.bucket
        self.bucket_arn = bucket.arn
        self.key_arn = key.arn  # an FSx data repository association grants on it (fsx.py)
        self.register_outputs({"bucket": self.bucket, "roleArn": self.role_arn})

    def _identity(
        self,
        name: str,
        service_account: str,
        access: tuple[rc.AwsAccess, ...],
        args: ArtifactsArgs,
        bucket,
        key,
    ):
        """A role, its policy from the contracts, and the association that hands it to the
        ServiceAccount; pods of that ServiceAccount wait for the association (workloads.py)."""
        child = pulumi.ResourceOptions(parent=self)
        role = pod_identity_role(name, child, args.tags)
        policy = aws.iam.RolePolicy(
            name,
            role=role.id,
            policy=pulumi.Output.all(bucket.arn, key.arn).apply(
                lambda a: json.dumps(render_job_policy(access, a[0], a[1]))
            ),
            opts=child,
        )
        association = aws.eks.PodIdentityAssociation(
            name,
            cluster_name=args.cluster_name,
            namespace=args.namespace,
            service_account=service_account,
            role_arn=role.arn,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, *args.depends_on]),
        )
        return association, role.arn
