"""Kubernetes volumes the stack declares: PersistentVolumes reach only their file system and bind
only the claim they were made for, claims name their class or bind the stack's own volume, and
EFS access points keep their directories private to the jobs' uid.

A claim without storageClassName gets the cluster's default class (on EKS possibly an
unencrypted gp2), and one with "" but no volumeName binds any free PV; a PV without claimRef
binds the first matching claim of any namespace (kubernetes/website content/en/docs/concepts/
storage/persistent-volumes.md, "Reserving a PersistentVolume"). The EFS CSI driver creates an
access point per volume whose root directory gets `directoryPerms`, and whose POSIX user
`uid`/`gid` every request through it runs as (kubernetes-sigs/aws-efs-csi-driver README.md,
the StorageClass parameters of dynamic provisioning).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .base import MANDATORY, Planned, Rule, StackRule, get, name_of
from .kube import PV, PVC, STORAGE_CLASS, namespace_of

EFS_PROVISIONER = "efs.csi.aws.com"
# Volume sources that are the node's own disks: whoever binds them reads the host.
HOST_SOURCES = ("hostPath", "local")


def _pv(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    name = name_of(props)
    spec = props.get("spec") or {}
    out = [
        f"PersistentVolume {name} is a {kind} volume on the node: use the file system's CSI driver"
        for kind in HOST_SOURCES
        if kind in spec
    ]
    ref = spec.get("claimRef") or {}
    if not (ref.get("namespace") and ref.get("name")):
        out.append(
            f"PersistentVolume {name} is reserved for no claim, so a claim of any namespace "
            "may bind it: set spec.claimRef to the namespace and name of its claim"
        )
    return out


def _perm_bits(value: Any) -> int | None:
    try:
        return int(str(value), 8)
    except ValueError:
        return None


def _efs_class(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    if props.get("provisioner") != EFS_PROVISIONER:
        return []
    name = name_of(props)
    params = props.get("parameters") or {}
    out = []
    perms = _perm_bits(params.get("directoryPerms"))
    if perms is None or perms & 0o007 or perms & 0o020:
        out.append(
            f"StorageClass {name} creates EFS directories with mode "
            f"{params.get('directoryPerms')}: use 700 (or 750) so only the jobs' uid writes "
            "them and other users read nothing"
        )
    for key in ("uid", "gid"):
        if str(params.get(key, "")).strip() in ("0", "0.0"):
            out.append(
                f"StorageClass {name} makes EFS access points act as {key} 0 (root): use the "
                "jobs' non-root uid and gid (1000)"
            )
    return out


def claims_bound(resources: Sequence[Planned], _cfg: Mapping[str, Any]) -> list[tuple[Any, str]]:
    """A class the stack does not create is one the stack config names (`storageClassName`),
    whose provisioner the operator answers for; what is refused is the claim that names no
    class, or binds a PV other than the stack's own for its namespace."""
    volumes = {name_of(p): p for _h, t, p, _n in resources if t == PV}
    out = []
    for handle, type_, props, _n in resources:
        if type_ != PVC:
            continue
        label = f"PersistentVolumeClaim {namespace_of(props)}/{name_of(props)}"
        spec = props.get("spec") or {}
        cls, volume = spec.get("storageClassName"), spec.get("volumeName")
        if cls is None:
            out.append(
                (
                    handle,
                    f"{label} names no storageClassName, so it gets the cluster's default class "
                    '(possibly unencrypted): name the stack\'s StorageClass, or "" with the '
                    "stack's volumeName",
                )
            )
        elif cls != "":
            continue
        elif volume not in volumes:
            out.append(
                (
                    handle,
                    f"{label} binds {volume or 'any free PersistentVolume'}, not one the stack "
                    "creates: set volumeName to the stack's PersistentVolume",
                )
            )
        elif get(volumes[volume], "spec.claimRef.namespace") != namespace_of(props):
            out.append(
                (
                    handle,
                    f"{label} binds PersistentVolume {volume}, reserved for another namespace: "
                    "bind the volume made for this namespace",
                )
            )
    return out


RULES = [
    Rule(
        "persistent-volume-scoped",
        "PersistentVolumes are no node disks (hostPath, local) and are reserved for their claim.",
        MANDATORY,
        (PV,),
        _pv,
    ),
    Rule(
        "storageclass-efs-access-point-private",
        "EFS StorageClasses create access points owned by a non-root uid with private "
        "directory permissions.",
        MANDATORY,
        (STORAGE_CLASS,),
        _efs_class,
    ),
]

STACK_RULES = [
    StackRule(
        "claims-bound-to-stack-storage",
        "Claims name their StorageClass, or bind the stack's PersistentVolume reserved for them.",
        MANDATORY,
        claims_bound,
    ),
]
