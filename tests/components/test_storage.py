"""Checkpoint storage: the default StorageClasses a stack's volumes rely on are created with
what they need (EFS: file system, mount targets, NFS from the VPC only, the CSI add-on), and
nothing is created for a class the user names or an existing claim."""

from __future__ import annotations

import pytest
from support import plan

from components import storage
from components.config import VolumeConfig
from trainstack.offline import schemas
from trainstack.offline.secrets import unwrap_secrets

SC = "kubernetes:storage.k8s.io/v1:StorageClass"


@pytest.mark.parametrize(
    "volumes, expected",
    [
        ({"a": {"type": "efs"}}, {"efs-sc"}),
        ({"a": {"type": "ebs", "size": "100Gi"}}, {"gp3"}),
        ({"a": {"type": "fsx"}}, set()),  # FSx: a file system and a PV, no class (test_fsx.py)
        ({"a": {"type": "efs", "storageClassName": "mine"}}, set()),
        ({"a": {"type": "ebs", "existingClaim": "pvc-1"}}, set()),
        ({"a": {"type": "efs"}, "b": {"type": "ebs"}, "c": {"type": "efs"}}, {"efs-sc", "gp3"}),
    ],
)
def test_only_default_classes_of_created_claims_are_needed(volumes, expected):
    cfgs = {k: VolumeConfig.model_validate(v) for k, v in volumes.items()}
    assert storage.needed_classes(cfgs) == expected


def test_rendered_storage_classes_validate():
    for body in (storage.render_ebs_storage_class(), storage.render_efs_storage_class("fs-1")):
        assert schemas.validate_object(body, "1.34") == []
    efs = storage.render_efs_storage_class("fs-1")["parameters"]
    assert efs["fileSystemId"] == "fs-1" and efs["uid"] == efs["gid"] == "1000"
    assert storage.render_ebs_storage_class()["parameters"]["encrypted"] == "true"


def test_efs_volume_gets_a_file_system_reachable_from_the_vpc_only():
    result = plan()  # dev: one efs volume
    fs = result.plan.one("aws:efs/fileSystem:FileSystem")
    assert unwrap_secrets(fs.inputs)["encrypted"] is True
    targets = result.plan.of_type("aws:efs/mountTarget:MountTarget")
    subnets = [s for s in result.plan.of_type("aws:ec2/subnet:Subnet") if "private" in s.name]
    assert sorted(unwrap_secrets(t.inputs)["subnetId"] for t in targets) == sorted(
        s.id for s in subnets
    )
    sg = unwrap_secrets(
        result.plan.one("aws:ec2/securityGroup:SecurityGroup", "trainstack-storage-efs").inputs
    )
    (rule,) = sg["ingress"]
    assert (rule["fromPort"], rule["toPort"], rule["cidrBlocks"]) == (2049, 2049, ["10.42.0.0/16"])
    addon = next(
        unwrap_secrets(a.inputs)
        for a in result.plan.of_type("aws:eks/addon:Addon")
        if unwrap_secrets(a.inputs)["addonName"] == "aws-efs-csi-driver"
    )
    assert addon["podIdentityAssociations"][0]["serviceAccount"] == "efs-csi-controller-sa"
    (sc,) = [m for m in result.manifests if m["kind"] == "StorageClass"]
    assert sc["parameters"]["fileSystemId"] == fs.id
    # The claim waits for its class.
    pvc = next(
        r for r in result.plan.resources if r.type == "kubernetes:core/v1:PersistentVolumeClaim"
    )
    assert pvc.inputs["spec"]["storageClassName"] == "efs-sc"


def test_named_class_or_fsx_creates_no_storage():
    result = plan(**{"trainstack:volumes__checkpoints__storageClassName": "team-efs"})
    assert result.plan.of_type(SC) == []
    assert result.plan.of_type("aws:efs/fileSystem:FileSystem") == []
