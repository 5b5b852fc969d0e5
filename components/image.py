"""TrainerImage: the trainer image's ECR repository, its build pipeline, and the build on `up`.

A KMS key (rotated) encrypts the repository, the source bucket and the CodeBuild project. The
CodeBuild role can push to this repository, read this bucket and write this log group, nothing
else. `ImageBuild` runs the project whenever the trainer's source hash changes, so `image` is
always the digest of an image built from the code being deployed and tested by its own selftest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from imagebuild import builder as image_builder

from . import aws_names
from .buckets import private_bucket
from .config import PROJECT, ImageConfig
from .iam import role_trusting
from .image_build import ImageBuild, ImageBuildArgs
from .image_policies import (
    render_build_policy,
    render_lifecycle_policy,
    webhook_filter_groups,
)
from .kms import rotated_key

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BUILDSPEC = "trainer/buildspec.yml"
# Amazon Linux standard image: Docker, Python 3 and the AWS CLI, x86_64 like the GPU nodes.
BUILD_IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
# Build sources are kept for a while for audit, then expire: each `up` uploads a new bundle.
SOURCE_EXPIRE_DAYS = 30


# ------------------------------------------------------------------------------- component


@dataclass
class TrainerImageArgs:
    config: ImageConfig
    cluster_name: str
    region: str
    tags: dict[str, str] = field(default_factory=dict)
    source_root: Path = PROJECT_ROOT


class TrainerImage(pulumi.ComponentResource):
    image: pulumi.Output[str]  # <repository url>@sha256:<digest>
    repository_url: pulumi.Output[str]
    project_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: TrainerImageArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(f"{PROJECT}:image:TrainerImage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg, tags, base = (args.config, args.tags, aws_names.trainer_base(args.cluster_name))

        key = rotated_key(
            f"{name}-key",
            f"{base}: image, build sources and logs",
            tags,
            child,
            alias=aws_names.trainer_kms_alias(base),
        )

        repo = aws.ecr.Repository(
            f"{name}-repo",
            name=aws_names.ecr_repository(args.cluster_name),
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "KMS", "kms_key": key.arn}],
            # `pulumi destroy` of the stack removes its images too instead of failing on them.
            force_delete=True,
            tags=tags,
            opts=child,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-repo",
            repository=repo.name,
            policy=json.dumps(render_lifecycle_policy(cfg)),
            opts=child,
        )

        bucket = self._source_bucket(name, base, key, tags, child)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=aws_names.codebuild_log_group(base),
            retention_in_days=cfg.log_retention_days,
            tags=tags,
            opts=child,
        )

        role = role_trusting(f"{name}-build", "codebuild.amazonaws.com", child, tags=tags)
        policy = aws.iam.RolePolicy(
            f"{name}-build",
            role=role.id,
            opts=child,
            policy=pulumi.Output.all(repo.arn, bucket.arn, log_group.arn, key.arn).apply(
                lambda a: json.dumps(
                    render_build_policy(
                        repository_arn=a[0], bucket_arn=a[1], log_group_arn=a[2], key_arn=a[3]
                    )
                )
            ),
        )

        source: dict[str, Any]
        if cfg.github is not None:
            source = {
                "type": "GITHUB",
                "buildspec": BUILDSPEC,
                "git_clone_depth": 1,
                "location": f"https://github.com/{cfg.github.owner}/{cfg.github.repo}.git",
            }
        else:
            source = {
                "type": "S3",
                "buildspec": BUILDSPEC,
                "location": bucket.bucket.apply(lambda b: f"{b}/sources/"),
            }
        project = aws.codebuild.Project(
            f"{name}-build",
            name=base,
            description="Build, self-test and push the trainer image",
            service_role=role.arn,
            build_timeout=cfg.build_timeout_minutes,
            encryption_key=key.arn,
            artifacts={"type": "NO_ARTIFACTS"},
            source=source,
            source_version=cfg.github.branch if cfg.github else None,
            environment={
                "compute_type": cfg.compute_type,
                "image": BUILD_IMAGE,
                "type": "LINUX_CONTAINER",
                "image_pull_credentials_type": "CODEBUILD",
                # Docker-in-Docker needs a privileged build container; nothing else gets it.
                "privileged_mode": True,
                "environment_variables": [
                    {"name": "REPOSITORY_URI", "value": repo.repository_url, "type": "PLAINTEXT"},
                    # The selftest level the buildspec runs in the built image (image.testLevel).
                    {"name": "TEST_LEVEL", "value": cfg.test_level, "type": "PLAINTEXT"},
                    # image.autoFix: the buildspec runs the preflight with --fix.
                    {"name": "AUTO_FIX", "value": str(cfg.auto_fix).lower(), "type": "PLAINTEXT"},
                ],
            },
            # Reuses layers and the source within a host's cache window; the buildspec also
            # pulls cache from the newest pushed image for cold hosts.
            cache={"type": "LOCAL", "modes": ["LOCAL_DOCKER_LAYER_CACHE", "LOCAL_SOURCE_CACHE"]},
            logs_config={
                "cloudwatch_logs": {"status": "ENABLED", "group_name": log_group.name},
                "s3_logs": {"status": "DISABLED"},
            },
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )

        if cfg.github is not None:
            aws.codebuild.Webhook(
                f"{name}-push",
                project_name=project.name,
                build_type="BUILD",
                filter_groups=webhook_filter_groups(cfg.github.branch),
                opts=child,
            )
        if cfg.nightly_schedule is not None:
            self._nightly(name, cfg.nightly_schedule, project, tags, child)

        build = ImageBuild(
            f"{name}-build",
            ImageBuildArgs(
                project_name=project.name,
                bucket=bucket.bucket,
                repository_name=repo.name,
                repository_url=repo.repository_url,
                region=args.region,
                source_root=str(args.source_root),
                source_hash=image_builder.source_hash(args.source_root),
                max_attempts=cfg.max_attempts,
                timeout_minutes=cfg.build_timeout_minutes,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[project, policy]),
        )

        self.image = build.image
        self.repository_url = repo.repository_url
        self.project_name = project.name
        self.register_outputs(
            {
                "image": self.image,
                "repositoryUrl": self.repository_url,
                "buildProject": self.project_name,
            }
        )

    def _source_bucket(
        self,
        name: str,
        base: str,
        key: aws.kms.Key,
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> aws.s3.Bucket:
        # force_destroy: the bundles are rebuilt from the repository, never the only copy.
        bucket = private_bucket(
            f"{name}-sources",
            bucket_prefix=aws_names.source_bucket_prefix(base),
            key=key,
            tags=tags,
            opts=child,
            force_destroy=True,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-sources",
            bucket=bucket.id,
            opts=child,
            rules=[
                {
                    "id": "expire-sources",
                    "status": "Enabled",
                    "filter": {"prefix": "sources/"},
                    "expiration": {"days": SOURCE_EXPIRE_DAYS},
                    "noncurrent_version_expiration": {"noncurrent_days": SOURCE_EXPIRE_DAYS},
                }
            ],
        )
        return bucket

    def _nightly(
        self,
        name: str,
        schedule: str,
        project: aws.codebuild.Project,
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> None:
        role = role_trusting(f"{name}-nightly", "events.amazonaws.com", child, tags=tags)
        aws.iam.RolePolicy(
            f"{name}-nightly",
            role=role.id,
            opts=child,
            policy=project.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Effect": "Allow", "Action": "codebuild:StartBuild", "Resource": arn}
                        ],
                    }
                )
            ),
        )
        rule = aws.cloudwatch.EventRule(
            f"{name}-nightly",
            schedule_expression=schedule,
            description="Nightly trainer image build",
            tags=tags,
            opts=child,
        )
        # BUILD_KIND makes the buildspec tag it nightly-<date>-git-<sha>: tags are immutable.
        aws.cloudwatch.EventTarget(
            f"{name}-nightly",
            rule=rule.name,
            arn=project.arn,
            role_arn=role.arn,
            opts=child,
            input=json.dumps(
                {
                    "environmentVariablesOverride": [
                        {"name": "BUILD_KIND", "value": "nightly", "type": "PLAINTEXT"}
                    ]
                }
            ),
        )
