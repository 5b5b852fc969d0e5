"""The Pulumi policy pack (policies/__main__.py): one policy per rule with its level and
schema, violations reported against the right resource, config passed through."""

from __future__ import annotations

import runpy
from pathlib import Path

import pulumi_policy
from policy_cases import ECR, TAGS

from policies import BY_NAME

ROOT = Path(__file__).resolve().parents[2]


def _pack_policies():
    # Not run as __main__: building the PolicyPack itself would start the analyzer and block.
    pack = runpy.run_path(str(ROOT / "policies" / "__main__.py"), run_name="policies_pack")
    return {p.name: p for p in pack["policies"]()}


def _opts():
    return pulumi_policy.PolicyResourceOptions(
        False, [], None, [], pulumi_policy.PolicyCustomTimeouts(0, 0, 0), []
    )


def test_policy_pack_has_one_policy_per_rule_with_its_level_and_schema():
    built = _pack_policies()
    assert set(BY_NAME) < set(built)
    for name, rule in BY_NAME.items():
        assert built[name].enforcement_level.value == rule.enforcement
        assert (built[name].config_schema is not None) == bool(rule.config_schema)


def test_pack_policy_reports_each_violation_against_the_resource():
    policy = _pack_policies()["ecr-immutable-tags"]
    reported = []
    args = pulumi_policy.ResourceValidationArgs(
        ECR, {"imageTagMutability": "MUTABLE"}, "urn:repo", "repo", _opts(), None, {}
    )
    policy.validate(args, lambda msg, urn=None: reported.append((msg, urn)))
    assert len(reported) == 1 and reported[0][1] == "urn:repo"


def test_pack_policy_uses_the_policy_config():
    policy = _pack_policies()["required-tags"]
    reported = []
    args = pulumi_policy.ResourceValidationArgs(
        "aws:kms/key:Key",
        {"tags": TAGS},
        "urn:key",
        "key",
        _opts(),
        None,
        {"requiredTags": ["managed-by", "team"]},
    )
    policy.validate(args, lambda msg, urn=None: reported.append(msg))
    assert len(reported) == 1 and "team" in reported[0]


def test_pack_stack_policy_flags_an_unprotected_bucket():
    policy = _pack_policies()["s3-bucket-protected"]
    bucket = pulumi_policy.PolicyResource(
        "aws:s3/bucket:Bucket", {"bucket": "b-123"}, "urn:b", "b", _opts(), None, None, [], {}
    )
    reported = []
    policy.validate(
        pulumi_policy.StackValidationArgs([bucket]),
        lambda msg, urn=None: reported.append((msg, urn)),
    )
    assert len(reported) == 1 and reported[0][1] == "urn:b"


def test_pack_stack_policy_reports_against_the_bucket_not_its_protections():
    """A protection's first name is its `bucket` input, the bucket's own name: the violation
    must still go to the bucket's URN, not to the protection listed after it."""
    policy = _pack_policies()["s3-bucket-protected"]

    def res(type_, props, urn, name):
        return pulumi_policy.PolicyResource(type_, props, urn, name, _opts(), None, None, [], {})

    resources = [
        res("aws:s3/bucket:Bucket", {"bucket": "data-abc"}, "urn:bucket", "data"),
        res(
            "aws:s3/bucketVersioningV2:BucketVersioningV2",
            {"bucket": "data-abc"},
            "urn:versioning",
            "data-versioning",
        ),
    ]
    reported = []
    policy.validate(
        pulumi_policy.StackValidationArgs(resources),
        lambda msg, urn=None: reported.append((msg, urn)),
    )
    assert len(reported) == 1 and reported[0][1] == "urn:bucket"
    assert "bucket data-abc has no encryption, a public access block" in reported[0][0]


# The training operator's overlay as a real preview registers it: the component, then its
# Deployment (upstream's, with no seccomp profile or runAsNonRoot) as a child.
OVERLAY = "trainstack:operators:Operators$kubernetes:kustomize/v2:Directory"
STACK = "urn:pulumi:efa::trainstack::trainstack:platform:Platform$"
OPERATOR = {
    "metadata": {"name": "training-operator", "namespace": "kubeflow"},
    "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "ghcr.io/x/y:v1"}]}}},
}


def test_objects_of_an_upstream_install_are_judged_at_the_install():
    policy = _pack_policies()["pod-seccomp-restricted"]
    deployment = "kubernetes:apps/v1:Deployment"
    child = f"{STACK}{OVERLAY}${deployment}::training-operator"
    own = f"{STACK}trainstack:jobs:Workloads${deployment}::jobwatch"
    reported = []
    for urn in (child, own):
        args = pulumi_policy.ResourceValidationArgs(
            deployment, OPERATOR, urn, "training-operator", _opts(), None, {}
        )
        policy.validate(args, lambda msg, urn=None: reported.append(urn))
    # The same inputs from the stack's own Deployment are refused.
    assert reported == [own]
