"""Encryption at rest of the storage the stack declares: EFS, FSx for Lustre, EBS volumes,
Kubernetes StorageClasses and SNS topics (whose messages wait at rest until delivered). (Node
root volumes are nodes.py's `node-volumes-encrypted`.)"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import ADVISORY, MANDATORY, Rule, get, truthy

EFS = "aws:efs/fileSystem:FileSystem"
FSX_LUSTRE = "aws:fsx/lustreFileSystem:LustreFileSystem"
EBS_VOLUME = "aws:ebs/volume:Volume"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
# The EBS CSI driver and the in-tree plugin both read `parameters.encrypted` (a string).
EBS_PROVISIONERS = ("ebs.csi.aws.com", "kubernetes.io/aws-ebs")
SNS_TOPIC = "aws:sns/topic:Topic"


def _efs(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    # Encryption at rest is chosen at creation only: an unencrypted file system must be recreated.
    if truthy(props.get("encrypted")):
        return []
    return [
        (
            "EFS file system is not encrypted at rest: set encrypted: true (and a kmsKeyId for "
            "your own key); it cannot be turned on later, so this replaces the file system"
        )
    ]


def _fsx(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    # FSx for Lustre always encrypts at rest (AWS FSx Lustre Guide, "Encrypting data at rest"):
    # SCRATCH_* with keys FSx manages, PERSISTENT_* with a KMS key, the account's FSx-managed key
    # unless kmsKeyId names one. So what can differ is whose key: persistent file systems should
    # use the stack's customer-managed key (rotation, key policy, revocation are then ours).
    kind = str(props.get("deploymentType") or "SCRATCH_1")
    if not kind.startswith("PERSISTENT") or props.get("kmsKeyId"):
        return []
    return [
        (
            f"{kind} FSx for Lustre file system is encrypted with the AWS-managed FSx key: set "
            "kmsKeyId to the stack's KMS key so its key policy and rotation are yours"
        )
    ]


def _ebs_volume(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    if truthy(props.get("encrypted")):
        return []
    return ["EBS volume is not encrypted: set encrypted: true (and a kmsKeyId for your own key)"]


def _storage_class(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    # EFS CSI classes (efs.csi.aws.com) encrypt through their file system (efs-encrypted), FSx CSI
    # ones always do; only EBS classes choose per volume.
    if props.get("provisioner") not in EBS_PROVISIONERS:
        return []
    if str(get(props, "parameters.encrypted", "")).lower() == "true":
        return []
    name = get(props, "metadata.name") or "?"
    return [
        (
            f"StorageClass {name} provisions unencrypted EBS volumes: set "
            'parameters.encrypted: "true" (and parameters.kmsKeyId for your own key)'
        )
    ]


def _sns_topic(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    # SNS encrypts at rest only with kmsMasterKeyId set (SNS developer guide, "Encryption at
    # rest"); job notifications quote log lines, so their topic must be encrypted.
    if props.get("kmsMasterKeyId"):
        return []
    name = props.get("name") or "?"
    return [
        f"SNS topic {name} is not encrypted at rest: set kmsMasterKeyId to a customer managed KMS "
        "key (EventBridge cannot publish to a topic under the AWS managed alias/aws/sns key)"
    ]


def _efs_access_points(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    # The EFS CSI driver's dynamic provisioning (provisioningMode efs-ap) creates one access
    # point per volume, rooted at basePath/<volume> and with the POSIX user uid/gid (the
    # StorageClass parameters of kubernetes-sigs/aws-efs-csi-driver's docs): every NFS
    # call through it then runs as that user, under that directory only.
    if props.get("provisioner") != "efs.csi.aws.com":
        return []
    params = props.get("parameters") or {}
    missing = [k for k in ("uid", "gid") if not str(params.get(k) or "").strip()]
    if params.get("provisioningMode") == "efs-ap" and not missing:
        return []
    name = get(props, "metadata.name") or "?"
    return [
        (
            f"EFS StorageClass {name} does not pin each volume to an access point with a fixed "
            'user: set parameters.provisioningMode: "efs-ap" and parameters.uid / gid'
        )
    ]


def _fsx_copy_tags(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    # Backups exist for PERSISTENT deployments only (the Lustre guide's "Working with backups").
    kind = str(props.get("deploymentType") or "SCRATCH_1")
    if not kind.startswith("PERSISTENT") or truthy(props.get("copyTagsToBackups")):
        return []
    return ["backups lose the file system's tags: set copyTagsToBackups: true"]


RULES = [
    Rule(
        "efs-encrypted",
        "EFS file systems are encrypted at rest.",
        MANDATORY,
        (EFS,),
        _efs,
        controls=("FSBP EFS.1", "FSBP EFS.8"),
    ),
    Rule(
        "efs-access-point-identity",
        "EFS volumes are handed out through per-volume access points with a fixed POSIX user.",
        MANDATORY,
        (STORAGE_CLASS,),
        _efs_access_points,
        controls=("FSBP EFS.3", "FSBP EFS.4"),
    ),
    # Advisory: FSBP rates FSx.2 LOW (tags are inventory, not access).
    Rule(
        "fsx-lustre-copy-tags-to-backups",
        "Persistent FSx for Lustre file systems copy their tags to backups.",
        ADVISORY,
        (FSX_LUSTRE,),
        _fsx_copy_tags,
        controls=("FSBP FSx.2",),
    ),
    # Mandatory since the stack creates the file systems itself (components/fsx.py), always with
    # its own key where the API takes one.
    Rule(
        "fsx-lustre-customer-key",
        "Persistent FSx for Lustre file systems use the stack's KMS "
        "key (all FSx for Lustre is encrypted at rest).",
        MANDATORY,
        (FSX_LUSTRE,),
        _fsx,
    ),
    Rule(
        "ebs-volumes-encrypted",
        "Standalone EBS volumes are encrypted.",
        MANDATORY,
        (EBS_VOLUME,),
        _ebs_volume,
        controls=("FSBP EC2.3",),
    ),
    Rule(
        "storageclass-ebs-encrypted",
        "EBS StorageClasses provision encrypted volumes.",
        MANDATORY,
        (STORAGE_CLASS,),
        _storage_class,
        controls=("FSBP EC2.3",),
    ),
    Rule(
        "sns-topic-encrypted",
        "SNS topics are encrypted at rest with a KMS key.",
        MANDATORY,
        (SNS_TOPIC,),
        _sns_topic,
    ),
]
