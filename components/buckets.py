"""A private S3 bucket as the stack makes every bucket: SSE-KMS with its key (S3 Bucket Keys),
versioned, all public access blocked, and a bucket policy refusing any request without TLS."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from .image_policies import render_bucket_policy


def private_bucket(
    name: str,
    *,
    bucket_prefix: str,
    key: aws.kms.Key,
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
    force_destroy: bool = False,
) -> aws.s3.Bucket:
    bucket = aws.s3.Bucket(
        name, bucket_prefix=bucket_prefix, tags=tags, force_destroy=force_destroy, opts=opts
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        name,
        bucket=bucket.id,
        opts=opts,
        rules=[
            {
                "apply_server_side_encryption_by_default": {
                    "sse_algorithm": "aws:kms",
                    "kms_master_key_id": key.arn,
                },
                "bucket_key_enabled": True,
            }
        ],
    )
    aws.s3.BucketVersioning(
        name, bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=opts
    )
    aws.s3.BucketPublicAccessBlock(
        name,
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    aws.s3.BucketPolicy(
        name,
        bucket=bucket.id,
        opts=opts,
        policy=bucket.arn.apply(lambda a: json.dumps(render_bucket_policy(a))),
    )
    return bucket
