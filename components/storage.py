"""CheckpointStorage: what the checkpoint volumes' StorageClasses need, so a job's PVC binds.

EKS ships no StorageClass for the EBS CSI driver and no EFS driver at all: a PVC naming `gp3`
or `efs-sc` would stay Pending, and its job with it. When a volume uses one of these default
class names, the stack creates it: an encrypted gp3 class, or an encrypted EFS file system with
a mount target in every private subnet, the EFS CSI add-on (Pod Identity) and a class handing
out one access point per PVC, owned by the trainer's uid. An fsx volume gets its own FSx for
Lustre file system and a PV its claim binds (components/fsx.py). A volume that names its own
class, or an `existingClaim`, is left to the user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from . import fsx, network_policy, volume_prepare
from . import runtime_contract as rc
from .config import DEFAULT_STORAGE_CLASS, VolumeConfig
from .iam import attach_managed, pod_identity_role
from .pod_spec import TRAINER_UID, claim_name, lustre_pv_name

EBS_CLASS = DEFAULT_STORAGE_CLASS["ebs"]
EFS_CLASS = DEFAULT_STORAGE_CLASS["efs"]
EFS_CSI_POLICY = "service-role/AmazonEFSCSIDriverPolicy"
NFS_PORT = 2049


def needed_classes(volumes: dict[str, VolumeConfig]) -> set[str]:
    """The default classes some stack-created PVC relies on."""
    return {
        v.storage_class
        for v in volumes.values()
        if v.existing_claim is None and v.storage_class_name is None and v.type != "fsx"
    }


def render_ebs_storage_class() -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": EBS_CLASS},
        "provisioner": "ebs.csi.aws.com",
        "parameters": {"type": "gp3", "encrypted": "true"},
        # Created in the zone of the node the pod lands on, not in a random one.
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
        "reclaimPolicy": "Delete",
    }


def render_efs_storage_class(file_system_id: str) -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": EFS_CLASS},
        "provisioner": "efs.csi.aws.com",
        # EFS ignores fsGroup: the access point itself makes the trainer's uid the owner.
        "parameters": {
            "provisioningMode": "efs-ap",
            "fileSystemId": file_system_id,
            "directoryPerms": "700",
            "uid": str(TRAINER_UID),
            "gid": str(TRAINER_UID),
            "basePath": "/trainstack",
        },
        "allowVolumeExpansion": False,  # EFS has no size to expand
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


@dataclass
class CheckpointStorageArgs:
    volumes: dict[str, VolumeConfig]
    cluster_name: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    private_subnet_ids: list[pulumi.Input[str]]
    provider: k8s.Provider
    depends_on: list[pulumi.Resource] = field(default_factory=list)  # nodes for the add-on
    tags: dict[str, str] = field(default_factory=dict)
    # FSx for Lustre volumes: the cluster's configured name (key alias), the jobs namespace (the
    # PV's claim), each volume's subnet (PlatformConfig.volume_zone), the nodes' security group
    # and the artifacts bucket a data repository association links.
    cluster: str = ""
    namespace: str = ""
    volume_subnets: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    node_security_group_id: pulumi.Input[str] | None = None
    artifacts: fsx.ArtifactsRef | None = None
    # The image the FSx root-preparation Job runs (volume_prepare.py): this stack's trainer image.
    prepare_image: pulumi.Input[str] | None = None


class CheckpointStorage(pulumi.ComponentResource):
    classes: list[pulumi.Resource]

    def __init__(
        self, name: str, args: CheckpointStorageArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("trainstack:storage:CheckpointStorage", name, None, opts)
        needed = needed_classes(args.volumes)
        k8s_opts = pulumi.ResourceOptions(
            parent=self, provider=args.provider, depends_on=args.depends_on
        )
        self.classes = []
        if EBS_CLASS in needed:
            self.classes.append(_storage_class(f"{name}-gp3", render_ebs_storage_class(), k8s_opts))
        if EFS_CLASS in needed:
            self.classes.append(self._efs(name, args, k8s_opts))
        self.lustre: dict[str, aws.fsx.LustreFileSystem] = {}
        lustre = {n: v for n, v in args.volumes.items() if v.stack_lustre}
        if lustre:
            self.classes += self._lustre(name, lustre, args, k8s_opts)
        self.register_outputs({"fileSystems": {n: fs.id for n, fs in self.lustre.items()}})

    def _lustre(
        self,
        name: str,
        volumes: dict[str, VolumeConfig],
        args: CheckpointStorageArgs,
        k8s_opts: pulumi.ResourceOptions,
    ) -> list[pulumi.Resource]:
        """A file system per fsx volume, one security group and key for them all, the CSI
        add-on, and each file system's PV."""
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags
        net = fsx.LustreNetwork(args.vpc_id, args.vpc_cidr, args.node_security_group_id)
        sg = fsx.security_group(f"{name}-fsx", net, tags, child)
        key = fsx.kms_key(f"{name}-fsx", args.cluster, tags, child)
        done: list[pulumi.Resource] = []
        for vol_name, vol in volumes.items():
            fs = fsx.file_system(
                f"{name}-fsx-{vol_name}", vol, args.volume_subnets[vol_name], sg, key, tags, child
            )
            self.lustre[vol_name] = fs
            if vol.data_repository is not None and args.artifacts is not None:
                done.append(
                    fsx.data_repository(
                        f"{name}-fsx-{vol_name}", vol, fs, args.artifacts, tags, child
                    )
                )
        role = pod_identity_role(f"{name}-fsx-csi", child, tags)
        policy = aws.iam.RolePolicy(
            f"{name}-fsx-csi",
            role=role.id,
            policy=pulumi.Output.all(*(fs.arn for fs in self.lustre.values())).apply(
                lambda arns: fsx.csi_policy_json(list(arns))
            ),
            opts=child,
        )
        addon = aws.eks.Addon(
            f"{name}-fsx-csi",
            cluster_name=args.cluster_name,
            addon_name=fsx.FSX_CSI_ADDON,
            pod_identity_associations=[
                {"role_arn": role.arn, "service_account": fsx.FSX_CSI_CONTROLLER_SA}
            ],
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, policy]),
        )
        pv_opts = pulumi.ResourceOptions.merge(
            k8s_opts, pulumi.ResourceOptions(depends_on=[*args.depends_on, addon, *done])
        )
        pvs: list[pulumi.Resource] = [
            _lustre_pv(
                f"{name}-pv-{vol_name}",
                fs,
                volumes[vol_name],
                args.namespace,
                lustre_pv_name(args.namespace, vol_name),
                claim_name(vol_name, volumes[vol_name]),
                pv_opts,
            )
            for vol_name, fs in self.lustre.items()
        ]
        if args.prepare_image is not None:
            pvs += self._prepare(name, volumes, args.prepare_image, k8s_opts, pv_opts)
        return pvs

    def _prepare(
        self,
        name: str,
        volumes: dict[str, VolumeConfig],
        image: pulumi.Input[str],
        k8s_opts: pulumi.ResourceOptions,
        pv_opts: pulumi.ResourceOptions,
    ) -> list[pulumi.Resource]:
        """Each file system's root made writable for the jobs' uid by a root-run Job in a
        namespace of its own (volume_prepare.py). The jobs depend on this component, so on it.

        The namespace denies all traffic by default and each Job's contract adds a policy that
        allows none either; a Job waits for both, as the jobs namespace's workloads do
        (workloads.py), so its pod never runs unfiltered."""
        ns_name = volume_prepare.NAMESPACE
        ns_body = volume_prepare.render_namespace()
        ns = k8s.core.v1.Namespace(
            f"{name}-volumes-ns", metadata=ns_body["metadata"], opts=k8s_opts
        )
        after = pulumi.ResourceOptions.merge
        in_ns = after(k8s_opts, pulumi.ResourceOptions(depends_on=[ns]))
        deny = network_policy.render_default_deny(ns_name)
        base: list[pulumi.Resource] = [
            ns,
            _network_policy(f"{name}-volumes-netpol-{deny['metadata']['name']}", deny, in_ns),
        ]
        jobs: list[pulumi.Resource] = []
        for vol_name, fs in self.lustre.items():
            vol = volumes[vol_name]
            contract = volume_prepare.contract(vol_name)
            made: dict[str, object] = {
                rc.network_policy_need(contract.name): _network_policy(
                    f"{name}-volumes-netpol-{contract.name}",
                    network_policy.render_contract(contract, ns_name),
                    in_ns,
                )
            }
            pv = _lustre_pv(
                f"{name}-prepare-pv-{vol_name}",
                fs,
                vol,
                ns_name,
                lustre_pv_name(ns_name, vol_name),
                vol_name,
                pv_opts,
            )
            claim = volume_prepare.render_claim(vol_name, vol)
            made[rc.claim_need(claim["metadata"]["name"])] = k8s.core.v1.PersistentVolumeClaim(
                f"{name}-prepare-pvc-{vol_name}",
                metadata=claim["metadata"],
                spec=claim["spec"],
                opts=after(k8s_opts, pulumi.ResourceOptions(depends_on=[ns, pv])),
            )
            job = pulumi.Output.from_input(image).apply(
                lambda img, vol_name=vol_name: volume_prepare.render_job(vol_name, img)
            )
            jobs.append(
                k8s.batch.v1.Job(
                    f"{name}-prepare-{vol_name}",
                    metadata=job["metadata"],
                    spec=job["spec"],
                    # A new image replaces the Job (its template is immutable); same name.
                    opts=after(
                        k8s_opts,
                        pulumi.ResourceOptions(
                            depends_on=[*base, *rc.prerequisites([contract], made)],
                            delete_before_replace=True,
                        ),
                    ),
                )
            )
        return jobs

    def _efs(
        self, name: str, args: CheckpointStorageArgs, k8s_opts: pulumi.ResourceOptions
    ) -> pulumi.Resource:
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags
        # NFS from inside the VPC only: every node subnet, no other source.
        sg = aws.ec2.SecurityGroup(
            f"{name}-efs",
            vpc_id=args.vpc_id,
            description="EFS checkpoints: NFS from the VPC",
            ingress=[
                {
                    "protocol": "tcp",
                    "from_port": NFS_PORT,
                    "to_port": NFS_PORT,
                    "cidr_blocks": [args.vpc_cidr],
                    "description": "NFS from cluster nodes",
                }
            ],
            tags={**tags, "Name": f"{name}-efs"},
            opts=child,
        )
        fs = aws.efs.FileSystem(
            f"{name}-efs",
            encrypted=True,
            throughput_mode="elastic",
            performance_mode="generalPurpose",
            tags={**tags, "Name": f"{name}-checkpoints"},
            opts=child,
        )
        targets = [
            aws.efs.MountTarget(
                f"{name}-efs-{i}",
                file_system_id=fs.id,
                subnet_id=subnet,
                security_groups=[sg.id],
                opts=child,
            )
            for i, subnet in enumerate(args.private_subnet_ids)
        ]
        role = pod_identity_role(f"{name}-efs-csi", child, tags)
        attach_managed(role, f"{name}-efs-csi", (EFS_CSI_POLICY,), child)
        addon = aws.eks.Addon(
            f"{name}-efs-csi",
            cluster_name=args.cluster_name,
            addon_name="aws-efs-csi-driver",
            pod_identity_associations=[
                {"role_arn": role.arn, "service_account": "efs-csi-controller-sa"}
            ],
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=args.depends_on),
        )
        return _storage_class(
            f"{name}-efs-sc",
            fs.id.apply(render_efs_storage_class),
            pulumi.ResourceOptions.merge(
                k8s_opts, pulumi.ResourceOptions(depends_on=[*args.depends_on, addon, *targets])
            ),
        )


def _storage_class(
    name: str, body: pulumi.Input[dict[str, Any]], opts: pulumi.ResourceOptions
) -> k8s.storage.v1.StorageClass:
    """A StorageClass from its rendered body (a dict, or an Output of one)."""
    body = pulumi.Output.from_input(body)
    return k8s.storage.v1.StorageClass(
        name,
        metadata=body["metadata"],
        provisioner=body["provisioner"],
        parameters=body["parameters"],
        reclaim_policy=body["reclaimPolicy"],
        volume_binding_mode=body["volumeBindingMode"],
        allow_volume_expansion=body["allowVolumeExpansion"],
        opts=opts,
    )


def _network_policy(
    name: str, manifest: dict[str, Any], opts: pulumi.ResourceOptions
) -> k8s.networking.v1.NetworkPolicy:
    """A NetworkPolicy from its rendered manifest (network_policy.py)."""
    return k8s.networking.v1.NetworkPolicy(
        name, metadata=manifest["metadata"], spec=manifest["spec"], opts=opts
    )


def _lustre_pv(
    resource_name: str,
    fs: aws.fsx.LustreFileSystem,
    volume: VolumeConfig,
    namespace: str,
    pv_name: str,
    claim: str,
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.PersistentVolume:
    """A static PV of a stack-created file system, bound to `claim` in `namespace` only."""
    body = pulumi.Output.all(fs.id, fs.dns_name, fs.mount_name).apply(
        lambda a: fsx.render_pv(pv_name, namespace, claim, volume, a[0], a[1], a[2])
    )
    return k8s.core.v1.PersistentVolume(
        resource_name, metadata=body["metadata"], spec=body["spec"], opts=opts
    )
