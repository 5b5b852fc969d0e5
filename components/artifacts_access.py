"""What a workload that reads training data and writes checkpoints and models may do in the
artifacts bucket (components/artifacts.py), and what a model server that only reads models may
do there, as the statements its contract declares (runtime_contract.AwsAccess). Each role's
policy is rendered from the contracts that run under its ServiceAccount, so a workload without
this access gets no grant for it.

References: `{artifacts_bucket}` (the bucket's ARN) and `{artifacts_key}` (its KMS key's ARN).
"""

from __future__ import annotations

from . import runtime_contract as rc
from .config.artifacts import CHECKPOINTS_PREFIX, DATA_PREFIX, MODELS_PREFIX

BUCKET = "{artifacts_bucket}"
KEY = "{artifacts_key}"
READ_ACTIONS = ("s3:GetObject",)
# A model export is read by the object versions its manifest lists (trainer/s3_models.py), and a
# GetObject or HeadObject naming a VersionId is authorized by s3:GetObjectVersion alone (AWS S3
# API reference, GetObject `versionId`); models/ only, where that manifest lives.
READ_VERSION_ACTIONS = ("s3:GetObjectVersion",)
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
PREFIXES = (DATA_PREFIX, CHECKPOINTS_PREFIX, MODELS_PREFIX)


def read_data_write_results() -> tuple[rc.AwsAccess, ...]:
    """List and read `data/`, read-write `checkpoints/` and `models/` (and read the object
    versions an export's manifest lists), with the bucket's key."""
    return (
        # ListBucket is a bucket action: its objects are limited by the s3:prefix key.
        rc.AwsAccess(
            "ListArtifacts",
            ("s3:ListBucket",),
            (BUCKET,),
            {"StringLike": {"s3:prefix": [p for pre in PREFIXES for p in (pre, f"{pre}*")]}},
        ),
        rc.AwsAccess("ReadData", READ_ACTIONS, (f"{BUCKET}/{DATA_PREFIX}*",)),
        rc.AwsAccess(
            "WriteCheckpointsAndModels",
            WRITE_ACTIONS,
            (f"{BUCKET}/{CHECKPOINTS_PREFIX}*", f"{BUCKET}/{MODELS_PREFIX}*"),
        ),
        rc.AwsAccess("ReadModelVersions", READ_VERSION_ACTIONS, (f"{BUCKET}/{MODELS_PREFIX}*",)),
        rc.AwsAccess("BucketKey", KMS_ACTIONS, (KEY,)),
    )


def read_models() -> tuple[rc.AwsAccess, ...]:
    """List and read `models/` only, and decrypt with the bucket's key: what a model server
    needs to copy an export (components/serving.py), and nothing it could write or delete."""
    return (
        rc.AwsAccess(
            "ListModels",
            ("s3:ListBucket",),
            (BUCKET,),
            {"StringLike": {"s3:prefix": [MODELS_PREFIX, f"{MODELS_PREFIX}*"]}},
        ),
        rc.AwsAccess(
            "ReadModels", READ_ACTIONS + READ_VERSION_ACTIONS, (f"{BUCKET}/{MODELS_PREFIX}*",)
        ),
        rc.AwsAccess("DecryptWithBucketKey", ("kms:Decrypt",), (KEY,)),
    )


def arns(bucket_arn: str, key_arn: str) -> dict[str, str | None]:
    return {"artifacts_bucket": bucket_arn, "artifacts_key": key_arn}
