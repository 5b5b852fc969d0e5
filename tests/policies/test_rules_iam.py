"""IAM wildcard grants (policies/rules/iam.py) wherever a policy document lives, and the
stack's own policies."""

from __future__ import annotations

import copy
import json

import pytest
from security_cases import ATTACH, IAM_POLICY, ROLE, ROLE_POLICY, allow, policy
from support import plan

from policies import BY_NAME, check_plan

# --------------------------------------------------------------------------------------- IAM


@pytest.mark.parametrize(
    "statement",
    [
        allow("*"),
        allow(["s3:GetObject", "s3:*"]),
        allow("EC2:*"),
        allow("iam:*", ["*"]),
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:*", "NotResource": "arn:aws:kms:us-west-2:1:key/k"},
        {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Bool": {"x": "true"}}},
        # Other spellings of the same grant.
        allow("*:*"),
        allow("iam:**"),
        allow("s3:?*"),
        allow("iam:*", "arn:*"),
        allow("iam:*", "arn:aws:*:*:*:*"),
        allow("*", "arn:*:*"),
    ],
)
def test_wildcard_grants_are_caught_in_every_place_a_policy_lives(statement):
    rule = BY_NAME["iam-no-wildcard-grants"]
    doc = policy(statement)
    assert rule(ROLE_POLICY, {"role": "r", "policy": doc})
    # The provider passes documents as JSON strings.
    assert rule(ROLE_POLICY, {"role": "r", "policy": json.dumps(doc)})
    assert rule(IAM_POLICY, {"name": "p", "policy": doc})
    assert rule(ROLE, {"name": "r", "inlinePolicies": [{"name": "i", "policy": doc}]})


def test_specific_actions_on_star_and_denies_are_not_wildcard_grants():
    rule = BY_NAME["iam-no-wildcard-grants"]
    doc = policy(
        allow("ecr:GetAuthorizationToken"),
        allow("kms:GenerateDataKey*"),
        allow("s3:Get*"),
        allow("s3:*", "arn:aws:s3:::my-bucket/*"),
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
    )
    assert rule(ROLE_POLICY, {"role": "r", "policy": doc}) == []


def test_admin_managed_policies_are_caught_and_the_allow_list_works_by_name():
    rule = BY_NAME["iam-no-wildcard-grants"]
    admin = {"role": "ops", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    assert rule(ATTACH, admin)
    assert rule(ATTACH, {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AmazonS3FullAccess"})
    assert (
        rule(
            ATTACH, {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"}
        )
        == []
    )
    assert rule(ATTACH, admin, {"wildcardAllowed": ["ops"]}) == []
    # The older attachment resource names its roles in a list.
    many = {"roles": ["ops", "ml"], "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    found = rule("aws:iam/policyAttachment:PolicyAttachment", many, {"wildcardAllowed": ["ops"]})
    assert len(found) == 1 and found[0].startswith("role ml")
    wild = {"name": "break-glass", "role": "r", "policy": policy(allow("*"))}
    assert rule(ROLE_POLICY, wild, {"wildcardAllowed": ["break-glass"]}) == []
    assert rule(ROLE_POLICY, wild, {"wildcardAllowed": ["other"]})


@pytest.mark.parametrize("stack", ["dev", "efa"])
def test_every_policy_the_stack_writes_today_passes(stack):
    resources = plan(stack).plan.resources
    kinds = {r.type for r in resources}
    assert ROLE_POLICY in kinds and ATTACH in kinds  # Karpenter controller, CodeBuild, nodes
    found = [v for v in check_plan(resources) if v.rule == "iam-no-wildcard-grants"]
    assert found == []


def test_captured_karpenter_policy_with_a_wildcard_added_is_caught():
    result = plan("dev")
    props = copy.deepcopy(
        result.plan.one(ROLE_POLICY, "trainstack-karpenter-controller").plain_inputs
    )
    doc = json.loads(props["policy"])
    doc["Statement"].append(allow("ec2:*"))
    props["policy"] = json.dumps(doc)
    assert BY_NAME["iam-no-wildcard-grants"](ROLE_POLICY, props)


# ------------------------------------------------------------------ data access on every resource


@pytest.mark.parametrize(
    "statement",
    [
        allow("s3:GetObject"),
        allow(["s3:PutObject", "s3:ListBucket"], "arn:aws:s3:::*"),
        allow("sns:Publish"),
        allow("kms:GenerateDataKey*", ["arn:aws:kms:us-west-2:1:key/k", "*"]),
        {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::b/x"},
    ],
)
def test_data_access_on_every_resource_is_refused(statement):
    rule = BY_NAME["iam-data-access-scoped"]
    found = rule(ROLE_POLICY, {"role": "job", "policy": policy(statement)})
    assert found and "job" in found[0]
    # The allow-list names a role that may keep it.
    props = {"role": "job", "policy": policy(statement)}
    assert not rule(ROLE_POLICY, props, {"unscopedAllowed": ["job"]})


@pytest.mark.parametrize(
    "statement",
    [
        allow("s3:GetObject", "arn:aws:s3:::artifacts/data/*"),
        allow("sns:Publish", "arn:aws:sns:us-west-2:123456789012:topic"),
        allow("ec2:DescribeInstances"),  # not data access: iam-no-wildcard-grants' business
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*"},
    ],
)
def test_scoped_or_other_grants_pass(statement):
    assert not BY_NAME["iam-data-access-scoped"](
        ROLE_POLICY, {"role": "r", "policy": policy(statement)}
    )


def test_the_stacks_job_and_watcher_roles_are_scoped_and_widening_one_is_caught():
    result = plan("efa")
    assert not [v for v in check_plan(result.plan.resources) if v.rule == "iam-data-access-scoped"]
    widened = []
    for r in result.plan.resources:
        r = copy.deepcopy(r)
        if r.type == ROLE_POLICY and "s3:GetObject" in json.dumps(r.inputs.get("policy")):
            doc = r.inputs["policy"]
            doc = json.loads(doc) if isinstance(doc, str) else doc
            for st in doc["Statement"]:
                st["Resource"] = "*"
            r.inputs["policy"] = json.dumps(doc)
        widened.append(r)
    found = [v for v in check_plan(widened) if v.rule == "iam-data-access-scoped"]
    assert found, "the artifacts role's policy widened to * was not caught"
