"""Every AWS name the stack derives from the cluster name, in one place.

The components build their names with these functions and the config layer checks a cluster
name by running AWS's rules (aws_rules) over the names derived from it, so the
longest allowed cluster name follows from the rules rather than from a number written here.
"""

from __future__ import annotations

import hashlib

from aws_rules import names as _naming

# ECR's pull-through cache rule prefix: at most 30 characters (CreatePullThroughCacheRule
# ecrRepositoryPrefix in botocore's ecr model).
PULL_THROUGH_PREFIX_MAX = 30


def trainer_base(cluster: str) -> str:
    """Names of the trainer image pipeline: CodeBuild project, its KMS alias and log group."""
    return f"{cluster}-trainer"


def ecr_repository(cluster: str) -> str:
    return f"{cluster}/trainer"


def trainer_kms_alias(base: str) -> str:
    return f"alias/{base}"


def codebuild_log_group(base: str) -> str:
    return f"/aws/codebuild/{base}"


def node_group_prefix(cluster: str, group: str) -> str:
    """The EKS node group's name prefix (the provider appends 26 characters)."""
    return f"{cluster}-{group}-"


def source_bucket_prefix(base: str) -> str:
    """The build-source bucket's prefix, from `trainer_base(cluster)`."""
    return f"{base}-src-"


def artifacts_bucket_prefix(cluster: str) -> str:
    """The artifacts bucket's prefix (data, checkpoints, models)."""
    return f"{cluster}-artifacts-"


def artifacts_kms_alias(cluster: str) -> str:
    return f"alias/{cluster}-artifacts"


def fsx_kms_alias(cluster: str) -> str:
    """The key of the stack's FSx for Lustre file systems (components/fsx.py)."""
    return f"alias/{cluster}-fsx"


def eks_secrets_alias(cluster: str) -> str:
    return f"alias/{cluster}-eks-secrets"


def eks_log_group(cluster: str) -> str:
    # The group EKS writes control-plane logs to: its name is fixed by EKS.
    return f"/aws/eks/{cluster}/cluster"


def flow_log_group(cluster: str) -> str:
    """The CloudWatch log group of the VPC's flow logs (components/network.py)."""
    return f"/aws/vpc/{cluster}/flow-logs"


def container_insights_log_group(cluster: str, kind: str) -> str:
    """A log group of Container Insights (components/observability.py): the agent writes its
    performance events to `performance`, Fluent Bit container logs to `application`, `dataplane`
    and `host` (the names are the add-on's), and the trainer's figures go to `training`."""
    return f"/aws/containerinsights/{cluster}/{kind}"


def interruption_queue(cluster: str) -> str:
    """The SQS queue EventBridge feeds spot and health events into (doctor looks it up)."""
    return f"{cluster}-karpenter"


def engine_cache_prefix(cluster: str) -> str:
    """The ECR pull-through cache prefix the engine image is pulled under. A rule's prefix is
    unique in the account's registry, so it carries the cluster: its name cut to fit, and a
    hash of the whole, so two long names that start alike still differ."""
    digest = hashlib.sha256(cluster.encode()).hexdigest()[:6]
    room = PULL_THROUGH_PREFIX_MAX - len(f"-hub-{digest}")
    return f"{cluster[:room].rstrip('-._')}-hub-{digest}"


def engine_repository(cluster: str, upstream: str) -> str:
    """The cache's repository of an upstream image: `<prefix>/<upstream repository>`."""
    return f"{engine_cache_prefix(cluster)}/{upstream}"


def docker_hub_secret(cluster: str) -> str:
    """ECR reads upstream credentials only from secrets named ecr-pullthroughcache/..."""
    return f"ecr-pullthroughcache/{cluster}-docker-hub"


def derived(cluster: str) -> list[tuple[str, str, str]]:
    """(Pulumi type, input, physical name) of every name made from the cluster name; a prefix
    is shown with the suffix the provider appends, as AWS will see it."""
    base = trainer_base(cluster)
    return [
        ("eks:index:Cluster", "name", cluster),
        ("aws:kms/alias:Alias", "name", eks_secrets_alias(cluster)),
        ("aws:cloudwatch/logGroup:LogGroup", "name", eks_log_group(cluster)),
        (
            "aws:cloudwatch/logGroup:LogGroup",
            "name",
            container_insights_log_group(cluster, "performance"),
        ),
        ("aws:sqs/queue:Queue", "name", interruption_queue(cluster)),
        ("aws:ecr/repository:Repository", "name", ecr_repository(cluster)),
        ("aws:codebuild/project:Project", "name", base),
        ("aws:kms/alias:Alias", "name", trainer_kms_alias(base)),
        ("aws:cloudwatch/logGroup:LogGroup", "name", codebuild_log_group(base)),
        ("aws:s3/bucket:Bucket", "bucket", source_bucket_prefix(base) + _naming.PREFIX_SUFFIX),
        ("aws:kms/alias:Alias", "name", artifacts_kms_alias(cluster)),
        ("aws:kms/alias:Alias", "name", fsx_kms_alias(cluster)),
        (
            "aws:s3/bucket:Bucket",
            "bucket",
            artifacts_bucket_prefix(cluster) + _naming.PREFIX_SUFFIX,
        ),
    ]
