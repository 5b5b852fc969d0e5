"""Account-level hygiene for the AWS resources around the cluster."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..required import MIN_LOG_RETENTION_DAYS
from .base import ADVISORY, MANDATORY, Rule, get, has_world, secret_named, truthy

SSE = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
VERSIONING = (
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketVersioningV2:BucketVersioningV2",
)
PUBLIC_BLOCK = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def _sse(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    algos = [
        get(r, "applyServerSideEncryptionByDefault.sseAlgorithm") for r in props.get("rules") or []
    ]
    if any(a in ("aws:kms", "aws:kms:dsse", "AES256") for a in algos):
        return []
    return [
        (
            "bucket has no default encryption rule: add rules[].applyServerSideEncryptionByDefault"
            " with sseAlgorithm aws:kms and a kmsMasterKeyId"
        )
    ]


def _sse_customer_key(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    # The stack's buckets use their own KMS key (components/buckets.py): a reader then needs
    # kms:Decrypt on that key as well as s3:GetObject, and the key's policy and rotation are
    # ours. SSE-S3 (AES256) or aws:kms without a key id fall back to keys AWS manages.
    defaults = [r.get("applyServerSideEncryptionByDefault") or {} for r in props.get("rules") or []]
    if any(
        d.get("sseAlgorithm") in ("aws:kms", "aws:kms:dsse") and d.get("kmsMasterKeyId")
        for d in defaults
    ):
        return []
    return [
        (
            "the bucket's default encryption does not use the stack's KMS key: set "
            "sseAlgorithm aws:kms with kmsMasterKeyId the bucket's key"
        )
    ]


def _versioning(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    status = get(props, "versioningConfiguration.status")
    if status == "Enabled":
        return []
    return [
        (
            f"bucket versioning is {status or 'unset'}: set versioningConfiguration.status: "
            "Enabled so overwritten or deleted objects can be recovered"
        )
    ]


def _public_block(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    off = [f for f in BLOCK_FLAGS if not truthy(props.get(f))]
    if not off:
        return []
    return [f"public access block leaves {off} off: set all four of {list(BLOCK_FLAGS)} to true"]


def _codebuild(_t: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    name = str(props.get("name") or "")
    if not truthy(get(props, "environment.privilegedMode")):
        return []
    # Only the image build runs Docker-in-Docker; any other privileged build is root on the host.
    if any(name.endswith(s) for s in cfg["privilegedSuffixes"]):
        return []
    return [
        (
            f"CodeBuild project {name or '?'} runs privileged: set environment.privilegedMode: "
            f"false (only image-build projects ending in {cfg['privilegedSuffixes']} may)"
        )
    ]


def _retention(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    days = props.get("retentionInDays")
    if days and float(days) > 0:
        return []
    return ["log group keeps logs forever: set retentionInDays (e.g. 30 or 90)"]


def _rotation(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    spec = props.get("customerMasterKeySpec") or props.get("keySpec") or "SYMMETRIC_DEFAULT"
    # AWS rotates only symmetric keys; asymmetric ones cannot enable it.
    if spec != "SYMMETRIC_DEFAULT" or truthy(props.get("enableKeyRotation")):
        return []
    return ["KMS key rotation is off: set enableKeyRotation: true"]


def _ingress_world(rule: Mapping[str, Any]) -> bool:
    cidrs = list(rule.get("cidrBlocks") or []) + list(rule.get("ipv6CidrBlocks") or [])
    cidrs += [rule.get("cidrIpv4"), rule.get("cidrIpv6")]
    return has_world(cidrs)


def _sg(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    if type_ == SG:
        rules = props.get("ingress") or []
    elif type_ == SG_RULE:
        rules = [props] if props.get("type") == "ingress" else []
    else:
        rules = [props]
    return [
        f"ingress {r.get('protocol', r.get('ipProtocol', '?'))} "
        f"{r.get('fromPort', '?')}-{r.get('toPort', '?')} is open to the internet: "
        "restrict the CIDRs to the VPC or known ranges, or use a source security group"
        for r in rules
        if _ingress_world(r)
    ]


def _lb_service(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    if get(props, "spec.type") != "LoadBalancer":
        return []
    ranges = get(props, "spec.loadBalancerSourceRanges") or []
    if ranges and not has_world(ranges):
        return []
    return [
        (
            "LoadBalancer Service is reachable from anywhere: set "
            "spec.loadBalancerSourceRanges to the CIDRs that need it, or use port-forward"
        )
    ]


def _codebuild_env(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    return [
        f"CodeBuild env {e.get('name')} is PLAINTEXT: store it in Secrets Manager or SSM and "
        "set type SECRETS_MANAGER / PARAMETER_STORE"
        for e in get(props, "environment.environmentVariables") or []
        if secret_named(str(e.get("name", ""))) and e.get("type", "PLAINTEXT") == "PLAINTEXT"
    ]


def _min_retention(_t: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    # Unset keeps logs forever (log-group-retention's cost finding); a short period deletes the
    # audit trail (EKS audit and authenticator logs, build logs) before anyone reads it.
    days = props.get("retentionInDays")
    if not days or float(days) >= cfg["minDays"]:
        return []
    return [
        f"log group keeps logs {float(days):g} days: set retentionInDays to at least "
        f"{cfg['minDays']} so audit and build logs outlive an investigation"
    ]


def _deletion_window(_t: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    # KMS waits 7-30 days before deleting a key (default 30, KMS API ScheduleKeyDeletion):
    # the window is how long a destroy by mistake can still be cancelled.
    days = props.get("deletionWindowInDays")
    if days is None or float(days) >= cfg["minDays"]:
        return []
    return [
        f"KMS key deletion window is {float(days):g} days: set deletionWindowInDays to "
        f"{cfg['minDays']} so a deletion by mistake can be cancelled before the data is lost"
    ]


def _codebuild_logging(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    # CodeBuild API (LogsConfig): CloudWatch Logs default to ENABLED, S3 logs to DISABLED.
    cw = get(props, "logsConfig.cloudwatchLogs.status", "ENABLED")
    s3 = get(props, "logsConfig.s3Logs") or {}
    s3_on = s3.get("status") == "ENABLED"
    out = []
    if cw == "DISABLED" and not s3_on:
        out.append(
            "the build keeps no logs: set logsConfig.cloudwatchLogs.status: ENABLED so what a "
            "build ran (with its credentials) can be reviewed"
        )
    if s3_on and truthy(s3.get("encryptionDisabled")):
        out.append(
            "S3 build logs are not encrypted: set logsConfig.s3Logs.encryptionDisabled: false"
        )
    return out


def _codebuild_key(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    key = str(props.get("encryptionKey") or "")
    if key and not key.endswith("alias/aws/s3"):
        return []
    return [
        (
            "the project encrypts its build output with the AWS managed S3 key: set "
            "encryptionKey to the image pipeline's KMS key (its policy and rotation are ours)"
        )
    ]


def _bucket_acl(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    # New buckets have ACLs disabled (Object Ownership: BucketOwnerEnforced, S3 User Guide
    # "Controlling ownership of objects"); an acl or grants input turns them back on.
    acl = props.get("acl")
    if (acl in (None, "", "private")) and not props.get("grants"):
        return []
    return [
        f"the bucket grants access by ACL ({acl or 'grants'}): drop acl/grants and grant "
        "access in IAM policies"
    ]


RULES = [
    Rule("s3-encryption", "S3 buckets have default server-side encryption.", MANDATORY, SSE, _sse),
    Rule(
        "s3-sse-customer-key",
        "S3 buckets encrypt by default with a customer managed KMS key.",
        MANDATORY,
        SSE,
        _sse_customer_key,
    ),
    # Mandatory like s3-bucket-protected, which requires the versioning resource: suspending it
    # would let an overwrite or delete destroy checkpoints and models for good.
    Rule(
        "s3-versioning", "S3 buckets have versioning enabled.", MANDATORY, VERSIONING, _versioning
    ),
    Rule(
        "s3-public-access-blocked",
        "S3 public access blocks enable all four settings.",
        MANDATORY,
        PUBLIC_BLOCK,
        _public_block,
        controls=("FSBP S3.8", "FSBP S3.2", "FSBP S3.3"),
    ),
    Rule(
        "codebuild-privileged-only-image-build",
        "Only image-build CodeBuild projects run privileged.",
        MANDATORY,
        ("aws:codebuild/project:Project",),
        _codebuild,
        {
            "privilegedSuffixes": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["-trainer"],
            }
        },
    ),
    Rule(
        "log-group-retention",
        "CloudWatch log groups set a retention period.",
        ADVISORY,
        ("aws:cloudwatch/logGroup:LogGroup",),
        _retention,
    ),
    Rule(
        "kms-key-rotation",
        "Symmetric KMS keys rotate yearly.",
        MANDATORY,
        ("aws:kms/key:Key",),
        _rotation,
    ),
    Rule(
        "no-world-ingress",
        "Security groups admit no ingress from 0.0.0.0/0 or ::/0.",
        MANDATORY,
        (SG, SG_RULE, SG_INGRESS),
        _sg,
        controls=("FSBP EC2.18", "FSBP EC2.19"),
    ),
    Rule(
        "loadbalancer-source-ranges",
        "LoadBalancer Services restrict their source ranges.",
        MANDATORY,
        ("kubernetes:core/v1:Service",),
        _lb_service,
    ),
    Rule(
        "codebuild-no-plaintext-secrets",
        "CodeBuild credentials are not plain-text environment variables.",
        MANDATORY,
        ("aws:codebuild/project:Project",),
        _codebuild_env,
        controls=("FSBP CodeBuild.2",),
    ),
    Rule(
        "log-group-min-retention",
        "CloudWatch log groups with a retention period keep logs at least minDays.",
        MANDATORY,
        ("aws:cloudwatch/logGroup:LogGroup",),
        _min_retention,
        {"minDays": {"type": "integer", "minimum": 1, "default": MIN_LOG_RETENTION_DAYS}},
    ),
    Rule(
        "kms-deletion-window",
        "KMS keys wait the full 30 days before deletion.",
        MANDATORY,
        ("aws:kms/key:Key",),
        _deletion_window,
        {"minDays": {"type": "integer", "minimum": 7, "maximum": 30, "default": 30}},
        controls=("FSBP KMS.3",),
    ),
    Rule(
        "codebuild-logging",
        "CodeBuild projects keep build logs, encrypted when they go to S3.",
        MANDATORY,
        ("aws:codebuild/project:Project",),
        _codebuild_logging,
        controls=("FSBP CodeBuild.4", "FSBP CodeBuild.3"),
    ),
    Rule(
        "codebuild-customer-key",
        "CodeBuild projects encrypt build output with the stack's KMS key.",
        MANDATORY,
        ("aws:codebuild/project:Project",),
        _codebuild_key,
    ),
    Rule(
        "s3-no-acls",
        "S3 buckets grant no access by ACL.",
        MANDATORY,
        ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"),
        _bucket_acl,
        controls=("FSBP S3.12",),
    ),
]
