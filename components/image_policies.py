"""The trainer image pipeline's documents, as pure functions: the ECR lifecycle policy, the source
bucket's policy, the build role's policy and the webhook's filter groups (components/image.py
creates the resources that carry them)."""

from __future__ import annotations

from typing import Any

from .config import ImageConfig

# A git tag that also names the image: v1.2.3 or v1.2.3-rc.1 (semver's core and pre-release, no
# build metadata: `+` is not allowed in an image tag). The buildspec matches
# CODEBUILD_WEBHOOK_TRIGGER (`tag/<name>`) with this same expression; the webhook builds only these.
RELEASE_TAG = r"v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?"
ECR_PUSH_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:DescribeImages",
)


def render_lifecycle_policy(cfg: ImageConfig) -> dict[str, Any]:
    """Untagged images (superseded layers of failed pushes) expire; of the release images
    (`v*` tags) the newest `keepReleases` are kept, of the others the newest `keepTagged`.

    The release rule comes before the catch-all one because ECR lets no rule of a lower priority
    expire an image that a higher-priority rule's tag selection matches (Amazon ECR User Guide,
    "Lifecycle policy evaluation rules"): without it, a release tag on an image is no protection
    once `keepTagged` newer branch builds have been pushed.
    """
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"expire untagged after {cfg.untagged_expire_days} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": cfg.untagged_expire_days,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"keep the newest {cfg.keep_releases} release images (v*)",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["v*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": cfg.keep_releases,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 3,
                "description": f"keep the newest {cfg.keep_tagged} other tagged images",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": cfg.keep_tagged,
                },
                "action": {"type": "expire"},
            },
        ]
    }


def render_bucket_policy(bucket_arn: str) -> dict[str, Any]:
    """Deny any request to the source bucket that does not use TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def render_build_policy(
    *, repository_arn: str, bucket_arn: str, log_group_arn: str, key_arn: str
) -> dict[str, Any]:
    """The build's permissions: this repository, this bucket, this log group, this key."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            # Registry login cannot be scoped to a repository (AWS documents Resource "*").
            {
                "Sid": "EcrLogin",
                "Effect": "Allow",
                "Action": "ecr:GetAuthorizationToken",
                "Resource": "*",
            },
            {
                "Sid": "PushThisRepository",
                "Effect": "Allow",
                "Action": list(ECR_PUSH_ACTIONS),
                "Resource": repository_arn,
            },
            {
                "Sid": "ReadThisBucket",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": f"{bucket_arn}/*",
            },
            {
                "Sid": "LocateThisBucket",
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation", "s3:GetBucketAcl"],
                "Resource": bucket_arn,
            },
            {
                "Sid": "WriteThisLogGroup",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [log_group_arn, f"{log_group_arn}:*"],
            },
            {
                "Sid": "UseThisKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": key_arn,
            },
        ],
    }


def webhook_filter_groups(branch: str) -> list[dict[str, Any]]:
    """Build on pushes to `branch` and on pushed release tags (vX.Y.Z[-pre]), nothing else.

    Groups are OR'ed, the filters of a group AND'ed; HEAD_REF is the pushed ref, `refs/tags/<t>`
    for a tag (AWS CodeBuild API Reference, WebhookFilter; pulumi-aws 7.51.1
    codebuild/_inputs.py WebhookFilterGroupFilterArgs).
    """
    return [
        {
            "filters": [
                {"type": "EVENT", "pattern": "PUSH"},
                {"type": "HEAD_REF", "pattern": f"^refs/heads/{branch}$"},
            ]
        },
        {
            "filters": [
                {"type": "EVENT", "pattern": "PUSH"},
                {"type": "HEAD_REF", "pattern": f"^refs/tags/{RELEASE_TAG}$"},
            ]
        },
    ]
