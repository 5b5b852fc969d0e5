"""The artifacts bucket, the job role's policy and the job identity, on the dev stack's plan."""

from __future__ import annotations

import fnmatch
import json

import pytest
from support import inputs, plan

from aws_rules import iam_policy
from components import artifacts, artifacts_access, dev_pod
from components.config import DevPodConfig

BUCKET = "arn:aws:s3:::ts-artifacts-x"
KEY = "arn:aws:kms:us-west-2:111122223333:key/1234"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
NAME = "trainstack-artifacts-bucket"


def allowed(policy: dict, action: str, resource: str, context: dict[str, str] | None = None):
    """IAM's evaluation for one request against Allow statements only (the policy has no Deny):
    Action and Resource match with `*` wildcards, StringLike conditions match any listed value
    (docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators
    .html), a key the request lacks fails its condition."""
    context = context or {}
    for st in policy["Statement"]:
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        resources = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
        if st["Effect"] != "Allow" or not any(fnmatch.fnmatchcase(action, a) for a in actions):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in resources):
            continue
        ok = True
        for op, conds in st.get("Condition", {}).items():
            assert op == "StringLike", op
            for k, values in conds.items():
                ok &= k in context and any(fnmatch.fnmatchcase(context[k], v) for v in values)
        if ok:
            return True
    return False


@pytest.fixture(scope="module")
def policy() -> dict:
    return artifacts.render_job_policy(artifacts_access.read_data_write_results(), BUCKET, KEY)


@pytest.mark.parametrize(
    ("action", "key", "expected"),
    [
        ("s3:GetObject", "data/shard-0.jsonl", True),
        ("s3:PutObject", "data/shard-0.jsonl", False),
        ("s3:DeleteObject", "data/shard-0.jsonl", False),
        ("s3:GetObject", "checkpoints/job/step_10/COMPLETE", True),
        ("s3:PutObject", "checkpoints/job/step_10/rank0.pt", True),
        ("s3:DeleteObject", "checkpoints/job/step_10/rank0.pt", True),
        ("s3:AbortMultipartUpload", "models/job/model.safetensors", True),
        ("s3:PutObject", "models/job/model.safetensors", True),
        ("s3:GetObject", "other/secret.txt", False),
        ("s3:PutObject", "datax/a", False),
        ("s3:PutObjectAcl", "models/job/model.safetensors", False),
    ],
)
def test_job_policy_allows_exactly_its_prefixes(policy, action, key, expected):
    assert allowed(policy, action, f"{BUCKET}/{key}") is expected


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [("data/", True), ("checkpoints/job/", True), ("models/", True), ("", False), ("x/", False)],
)
def test_listing_is_limited_to_the_three_prefixes(policy, prefix, expected):
    assert allowed(policy, "s3:ListBucket", BUCKET, {"s3:prefix": prefix}) is expected
    assert not allowed(policy, "s3:ListBucket", BUCKET)  # no prefix: the whole bucket


def test_job_policy_uses_only_actions_and_arns_aws_defines(policy):
    for st in policy["Statement"]:
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        resources = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
        assert [iam_policy.action_problem(a) for a in actions] == [None] * len(actions)
        assert [iam_policy.arn_problem(r) for r in resources] == [None] * len(resources)
    assert allowed(policy, "kms:GenerateDataKey", KEY)
    assert allowed(policy, "kms:Decrypt", KEY)


def test_bucket_is_kms_encrypted_versioned_private_and_tls_only():
    result = plan()
    sse = inputs(result, SSE, NAME)["rules"][0]
    assert sse["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert sse["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"]
    key = inputs(result, "aws:kms/key:Key", "trainstack-artifacts-key")
    assert key["enableKeyRotation"] is True
    versioning = inputs(result, "aws:s3/bucketVersioning:BucketVersioning", NAME)
    assert versioning["versioningConfiguration"] == {"status": "Enabled"}
    block = inputs(result, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", NAME)
    assert all(
        block[k]
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    deny = json.loads(inputs(result, "aws:s3/bucketPolicy:BucketPolicy", NAME)["policy"])
    assert deny["Statement"][0]["Effect"] == "Deny"
    assert deny["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # Models are the only copy: destroy must not empty the bucket.
    assert not inputs(result, "aws:s3/bucket:Bucket", NAME).get("forceDestroy")


def test_pod_identity_maps_the_training_service_account_to_the_job_role():
    result = plan()
    assoc = inputs(
        result, "aws:eks/podIdentityAssociation:PodIdentityAssociation", "trainstack-artifacts-job"
    )
    assert (assoc["namespace"], assoc["serviceAccount"]) == (
        result.config.jobs_namespace,
        "training",
    )
    role = inputs(result, "aws:iam/role:Role", "trainstack-artifacts-job")
    trust = json.loads(role["assumeRolePolicy"])["Statement"][0]
    # EKS User Guide, "Create IAM role with trust policy required by EKS Pod Identity".
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(trust["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    sa = inputs(result, "kubernetes:core/v1:ServiceAccount", "trainstack-jobs-sa")
    assert sa["metadata"] == {
        "name": "training",
        "namespace": result.config.jobs_namespace,
        "labels": {"app.kubernetes.io/part-of": "trainstack"},
    }


def test_every_job_pod_runs_under_the_training_service_account():
    result = plan()
    pods = []
    for m in result.manifests:
        if m["kind"] == "PyTorchJob":
            pods += [r["template"] for r in m["spec"]["pytorchReplicaSpecs"].values()]
        if m["kind"] == "RayJob":
            cluster = m["spec"]["rayClusterSpec"]
            pods += [cluster["headGroupSpec"]["template"]]
            pods += [g["template"] for g in cluster["workerGroupSpecs"]]
    assert pods
    assert {p["spec"].get("serviceAccountName") for p in pods} == {"training"}


def test_dev_pod_runs_under_the_service_account_it_is_given():
    pool = next(iter(plan().config.pools().values()))
    pod = dev_pod.render_pod(
        DevPodConfig(enabled=True, ssh=False),
        namespace="training",
        image="img",
        pool=pool,
        service_account="training",
    )
    assert pod["spec"]["serviceAccountName"] == "training"


def test_artifacts_disabled_declares_no_bucket_and_jobs_use_the_default_account():
    result = plan(**{"trainstack:artifacts": {"enabled": False}})
    assert NAME not in {b.name for b in result.plan.of_type("aws:s3/bucket:Bucket")}
    # Only the job watcher's own account (notifications are on in dev): none for the jobs.
    accounts = [a.name for a in result.plan.of_type("kubernetes:core/v1:ServiceAccount")]
    assert accounts == ["trainstack-notifications-watcher"]
    job = next(m for m in result.manifests if m["kind"] == "PyTorchJob")
    worker = job["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]
    assert "serviceAccountName" not in worker["spec"]
