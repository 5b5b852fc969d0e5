"""Invokes under the engine (trainstack/offline/fakes/invokes.py, policy_document.py): answered
explicitly, a policy document as real IAM JSON, an unknown token fails loudly."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pytest
from mock_engine import run

from trainstack.offline.fakes.invokes import OfflineMockError
from trainstack.offline.fakes.values import ACCOUNT_ID


def test_get_policy_document_builds_real_iam_json():
    def program():
        doc = aws.iam.get_policy_document(
            statements=[
                {
                    "sid": "PodIdentity",
                    "actions": ["sts:AssumeRole", "sts:TagSession"],
                    "principals": [{"type": "Service", "identifiers": ["pods.eks.amazonaws.com"]}],
                },
                {
                    "sid": "TlsOnly",
                    "effect": "Deny",
                    "actions": ["sqs:*"],
                    "resources": ["arn:aws:sqs:us-west-2:123456789012:q"],
                    "principals": [{"type": "*", "identifiers": ["*"]}],
                    "conditions": [
                        {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}
                    ],
                },
            ]
        )
        aws.iam.Role("karpenter", assume_role_policy=doc.json)

    plan = run(program)
    policy = json.loads(plan.one("aws:iam/role:Role").inputs["assumeRolePolicy"])
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PodIdentity",
                "Effect": "Allow",
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Principal": {"Service": "pods.eks.amazonaws.com"},
            },
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Action": "sqs:*",
                "Resource": "arn:aws:sqs:us-west-2:123456789012:q",
                "Principal": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def test_account_partition_region_zones_and_ssm():
    def program():
        ident = aws.get_caller_identity()
        part = aws.get_partition()
        zones = aws.get_availability_zones(state="available")
        ami = aws.ssm.get_parameter(
            name="/aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/nvidia/recommended/image_id"
        )
        pulumi.export("account", ident.account_id)
        pulumi.export("dns", part.dns_suffix)
        pulumi.export("zones", zones.names)
        pulumi.export("zoneIds", zones.zone_ids)
        pulumi.export("ami", ami.value)
        pulumi.export("region", aws.get_region_output().region)

    plan = run(program, az_names=["us-west-2a", "us-west-2c"])
    assert plan.outputs["account"] == ACCOUNT_ID
    assert plan.outputs["dns"] == "amazonaws.com"
    assert plan.outputs["zones"] == ["us-west-2a", "us-west-2c"]
    assert plan.outputs["zoneIds"] == ["usw2-az1", "usw2-az2"]
    assert plan.outputs["ami"].startswith("ami-")
    assert plan.outputs["region"] == "us-west-2"


def test_unknown_invoke_fails_loudly():
    def program():
        aws.ec2.get_ami(most_recent=True, owners=["amazon"])

    with pytest.raises(OfflineMockError, match="aws:ec2/getAmi:getAmi"):
        run(program)
