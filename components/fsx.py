"""FSx for Lustre checkpoint volumes: the file system a `type: fsx` volume gets, end to end.

What EFS gets in components/storage.py, for Lustre: a file system in the jobs' zone (Lustre is
single-AZ: one subnet) under the stack's own rotated KMS key, a security group that opens the
Lustre ports to the VPC only, the FSx CSI driver add-on with a Pod Identity role, and a static
PersistentVolume bound to the file system that the volume's PVC (components/pod_spec.render_pvc)
claims by name. Optionally a data repository association links a prefix of the artifacts bucket.

Static provisioning, not a StorageClass: the file system is Pulumi's (it shows in the plan, is
tagged and KMS-keyed by the stack, and outlives a deleted claim), and the driver only mounts it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from . import aws_names
from .config import VolumeConfig
from .config.fsx import is_persistent
from .config.sizing import gib
from .kms import rotated_key

FSX_CSI_ADDON = "aws-fsx-csi-driver"
# charts/aws-fsx-csi-driver/values.yaml controller.serviceAccount.name (aws-fsx-csi-driver v1.9.0).
FSX_CSI_CONTROLLER_SA = "fsx-csi-controller-sa"
FSX_CSI_DRIVER = "fsx.csi.aws.com"
# Lustre's LNET port and the ports its clients and servers connect from (FSx Lustre Guide, "File
# system access control with Amazon VPC"; aws-fsx-csi-driver v1.9.0 docs/troubleshooting.md:
# "FSx for Lustre rejects packets where the source port is neither 988 nor in 1018-1023").
LUSTRE_PORTS = ((988, 988), (1018, 1023))
# Lustre 2.15: botocore fsx CreateFileSystemRequest.FileSystemTypeVersion "is recommended for all
# new file systems" (the default would be 2.12 for PERSISTENT_2 without a metadata mode).
LUSTRE_VERSION = "2.15"
# The per-file-system service-linked role FSx creates to reach a linked bucket (FSx Lustre Guide,
# "Working with server-side encrypted Amazon S3 buckets": its key policy statement names it).
FSX_S3_SLR_PATH = "aws-service-role/s3.data-source.lustre.fsx.amazonaws.com"
# What S3 asks KMS on the role's behalf to read and write SSE-KMS objects (the Guide's statement
# lists Encrypt, Decrypt, ReEncrypt*, GenerateDataKey*; DescribeKey is left out because a grant
# with an encryption-context constraint cannot carry it, and S3 does not call it).
SLR_KEY_OPERATIONS = (
    "Encrypt",
    "Decrypt",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
)


def lustre_rules(vpc_cidr: str) -> list[dict[str, Any]]:
    """Ingress and egress of the file system's ENIs: the Lustre ports, from and to the VPC and
    the group itself (Lustre servers also talk to each other), nothing else."""
    return [
        {
            "protocol": "tcp",
            "from_port": low,
            "to_port": high,
            "cidr_blocks": [vpc_cidr],
            "self": True,
            "description": f"Lustre {low}-{high} within the VPC",
        }
        for low, high in LUSTRE_PORTS
    ]


def render_pv(
    pv_name: str,
    namespace: str,
    claim: str,
    volume: VolumeConfig,
    fs_id: str,
    dns_name: str,
    mount_name: str,
) -> dict[str, Any]:
    """A PV of the file system, reserved for the volume's claim (aws-fsx-csi-driver v1.9.0
    examples/kubernetes/static_provisioning/specs/pv.yaml: volumeHandle is the file system id,
    volumeAttributes dnsname and mountname, which pkg/driver/node.go mounts as
    <dnsname>@tcp:/<mountname>)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": pv_name, "labels": {"app.kubernetes.io/part-of": "trainstack"}},
        "spec": {
            "capacity": {"storage": volume.size},
            "volumeMode": "Filesystem",
            "accessModes": ["ReadWriteMany"],
            "mountOptions": ["flock"],
            # The file system is Pulumi's: releasing the claim must not touch it.
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "claimRef": {"namespace": namespace, "name": claim},
            "csi": {
                "driver": FSX_CSI_DRIVER,
                "volumeHandle": fs_id,
                "volumeAttributes": {"dnsname": dns_name, "mountname": mount_name},
            },
        },
    }


def render_csi_policy(file_system_arns: list[str]) -> dict[str, Any]:
    """The driver's role. With static PVs it creates, resizes and deletes nothing: its controller
    only describes a file system (aws-fsx-csi-driver v1.9.0 pkg/cloud/cloud.go getFileSystem;
    docs/install.md lists CreateFileSystem etc. for dynamic provisioning, not used here)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DescribeStackFileSystems",
                "Effect": "Allow",
                "Action": "fsx:DescribeFileSystems",
                "Resource": file_system_arns,
            }
        ],
    }


@dataclass
class LustreNetwork:
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    # Every node carries the EKS cluster security group (node groups, Karpenter's EC2NodeClass).
    node_security_group_id: pulumi.Input[str]


@dataclass
class ArtifactsRef:
    """The artifacts bucket a data repository association links (components/artifacts.py)."""

    bucket: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]


def security_group(
    name: str, net: LustreNetwork, tags: dict[str, str], opts: pulumi.ResourceOptions
) -> aws.ec2.SecurityGroup:
    sg = aws.ec2.SecurityGroup(
        name,
        vpc_id=net.vpc_id,
        description="FSx for Lustre: Lustre ports within the VPC",
        ingress=lustre_rules(net.vpc_cidr),
        egress=lustre_rules(net.vpc_cidr),
        tags={**tags, "Name": name},
        opts=opts,
    )
    # The clients' side: Lustre servers connect back to clients on the same ports.
    for low, high in LUSTRE_PORTS:
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-nodes-{low}",
            security_group_id=net.node_security_group_id,
            referenced_security_group_id=sg.id,
            ip_protocol="tcp",
            from_port=low,
            to_port=high,
            description=f"Lustre {low}-{high} from the FSx file systems",
            opts=opts,
        )
    return sg


def kms_key(
    name: str, cluster: str, tags: dict[str, str], opts: pulumi.ResourceOptions
) -> aws.kms.Key:
    return rotated_key(
        name,
        f"{cluster}: FSx for Lustre checkpoint volumes",
        tags,
        opts,
        alias=aws_names.fsx_kms_alias(cluster),
    )


def file_system(
    name: str,
    volume: VolumeConfig,
    subnet_id: pulumi.Input[str],
    sg: aws.ec2.SecurityGroup,
    key: aws.kms.Key,
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.fsx.LustreFileSystem:
    deployment = volume.lustre_deployment
    persistent = is_persistent(deployment)
    return aws.fsx.LustreFileSystem(
        name,
        storage_capacity=int(gib(volume.size)),
        deployment_type=deployment,
        storage_type="SSD",
        per_unit_storage_throughput=volume.lustre_throughput,
        # KmsKeyId is for PERSISTENT_* only; SCRATCH_* are encrypted with the account's FSx
        # service key (botocore fsx KmsKeyId). The pack's fsx-lustre-customer-key holds us to it.
        kms_key_id=key.arn if persistent else None,
        # Backups (PERSISTENT_* only) keep the stack's tags (FSBP FSx.2). UpdateFileSystem
        # cannot change it (botocore fsx UpdateFileSystemLustreConfiguration has no such
        # member), so the provider replaces the file system when it changes: ignored after
        # creation, so a file system made before the flag keeps its data.
        copy_tags_to_backups=True if persistent else None,
        file_system_type_version=LUSTRE_VERSION,
        # Metadata IOPS scale with capacity (PERSISTENT_2 only; 2.15 needed with a mode).
        metadata_configuration={"mode": "AUTOMATIC"} if deployment == "PERSISTENT_2" else None,
        # DataCompressionType stays NONE (the default): bf16/fp32 checkpoint tensors gain little
        # from LZ4, and capacity is provisioned whatever the data compresses to.
        subnet_ids=subnet_id,
        security_group_ids=[sg.id],
        tags={**tags, "Name": name},
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(ignore_changes=["copyTagsToBackups"])
        ),
    )


def data_repository(
    name: str,
    volume: VolumeConfig,
    fs: aws.fsx.LustreFileSystem,
    artifacts: ArtifactsRef,
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.fsx.DataRepositoryAssociation:
    """`s3://<bucket>/<path>` as `/<path>` on the file system, and a grant on the bucket's key
    for the service-linked role FSx reaches the bucket with (SSE-KMS objects).

    The imported tree is the jobs' input, read-only to them: FSx creates it, and imports objects
    without POSIX metadata, root-owned 0755, and jobs run as uid 1000. Each job writes in its own
    top-level folder beside it (job_command.run_dir), which config keeps out of the tree
    (config/fsx.check_job_folder); new data goes to the bucket's prefix, which autoImport
    brings in."""
    repo = volume.data_repository
    assert repo is not None
    dra = aws.fsx.DataRepositoryAssociation(
        name,
        file_system_id=fs.id,
        file_system_path=f"/{repo.path}",
        data_repository_path=pulumi.Output.concat("s3://", artifacts.bucket, "/", repo.path),
        batch_import_meta_data_on_create=bool(repo.auto_import),
        s3={
            "auto_import_policy": {"events": list(repo.auto_import)},
            "auto_export_policy": {"events": list(repo.auto_export)},
        },
        tags=tags,
        opts=opts,
    )
    invoke = pulumi.InvokeOutputOptions(parent=opts.parent)
    account = aws.get_caller_identity_output(opts=invoke).account_id
    partition = aws.get_partition_output(opts=invoke).partition
    role = pulumi.Output.concat(
        "arn:", partition, ":iam::", account, f":role/{FSX_S3_SLR_PATH}/",
        "AWSServiceRoleForFSxS3Access_", fs.id,
    )  # fmt: skip
    aws.kms.Grant(
        name,
        key_id=artifacts.key_arn,
        grantee_principal=role,
        operations=list(SLR_KEY_OPERATIONS),
        # S3 with bucket keys asks KMS with the bucket's ARN as encryption context.
        constraints=[{"encryption_context_subset": {"aws:s3:arn": artifacts.bucket_arn}}],
        # The role exists once FSx made it for the association.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[dra])),
    )
    return dra


def csi_policy_json(arns: list[str]) -> str:
    return json.dumps(render_csi_policy(arns))
