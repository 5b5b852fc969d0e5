"""Encryption at rest (policies/rules/storage.py) of the storage the stack writes."""

from __future__ import annotations

import pytest
from security_cases import SC
from support import plan

from policies import BY_NAME, check_plan

# ------------------------------------------------------------------------ encryption at rest


@pytest.mark.parametrize("stack", ["dev", "efa"])
def test_storage_the_stack_writes_is_encrypted(stack):
    names = {
        "efs-encrypted",
        "fsx-lustre-customer-key",
        "ebs-volumes-encrypted",
        "storageclass-ebs-encrypted",
        "node-volumes-encrypted",
    }
    assert [v for v in check_plan(plan(stack).plan.resources) if v.rule in names] == []


def test_scratch_fsx_and_efs_storage_classes_pass():
    assert (
        BY_NAME["fsx-lustre-customer-key"](
            "aws:fsx/lustreFileSystem:LustreFileSystem", {"deploymentType": "SCRATCH_2"}
        )
        == []
    )
    efs = {"provisioner": "efs.csi.aws.com", "parameters": {"fileSystemId": "fs-1"}}
    assert BY_NAME["storageclass-ebs-encrypted"](SC, efs) == []
    legacy = {"provisioner": "kubernetes.io/aws-ebs", "parameters": {"encrypted": "false"}}
    assert BY_NAME["storageclass-ebs-encrypted"](SC, legacy)


def test_an_sns_topic_without_a_kms_key_is_a_mandatory_violation():
    rule = BY_NAME["sns-topic-encrypted"]
    assert rule.enforcement == "mandatory"
    [message] = rule("aws:sns/topic:Topic", {"name": "jobs"})
    assert "SNS topic jobs is not encrypted" in message
    assert rule("aws:sns/topic:Topic", {"name": "jobs", "kmsMasterKeyId": "arn:aws:kms:k"}) == []
