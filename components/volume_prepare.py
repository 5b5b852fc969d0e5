"""The stack's one root-run step: make a new FSx for Lustre file system's root writable for the
jobs' uid, outside the restricted jobs namespace.

Why it is needed: Lustre creates a file system's root directory root-owned with mode 0755
(lustre/mdd/mdd_device.c mdd_prepare: S_IFDIR | S_IRUGO | S_IWUSR | S_IXUGO), and the FSx CSI
driver declares fsGroupPolicy ReadWriteOnceWithFSType (aws-fsx-csi-driver v1.9.0
deploy/kubernetes/base/csidriver.yaml), so the kubelet applies no fsGroup to the stack's
ReadWriteMany PV. A job, uid 1000, could not create its folder `/checkpoints/<job>`.

What it does: a Job per stack-created Lustre volume, in its own namespace (Pod Security
"baseline"), mounting the file system through a PV and claim of its own, runs `chmod 1777` on the
root as uid 0 with every capability dropped (the owner may chmod without CAP_FOWNER; Lustre root
squash is off unless configured). Every uid may then create its own folder, and the sticky bit
keeps anyone from renaming or removing what it does not own, such as the data repository's
root-owned tree (config/fsx.check_job_folder keeps jobs out of that tree). It changes no file's
owner and runs nothing else; `chmod` is idempotent, so a re-run (a new image) changes nothing.

Network: none. The node's CSI driver mounts the volume and the kubelet pulls the image, outside
the pod's network namespace, and the pod has no ServiceAccount token; so its runtime contract
(`contract`) declares no flow, and the namespace's default-deny plus the contract's own policy
leave the root-run pod nothing to reach and no one to reach it (components/storage.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.required import VOLUME_PREPARE_NAMESPACE, VOLUME_PREPARE_PREFIX

from . import runtime_contract as rc
from .config import VolumeConfig
from .pod_spec import container_security_context, render_pvc
from .scheduling import SYSTEM_LABEL

NAMESPACE = VOLUME_PREPARE_NAMESPACE
MOUNT = "/volume"
# World-writable with the sticky bit, as /tmp: each job's folder stays its own.
ROOT_MODE = "1777"
LABELS = {"app.kubernetes.io/part-of": "trainstack", "app.kubernetes.io/component": "volumes"}
# Which volume a Job prepares, so each Job's pods have a contract (and a policy) of their own.
VOLUME_LABEL = "trainstack.io/volume"


def job_name(volume_name: str) -> str:
    return f"{VOLUME_PREPARE_PREFIX}{volume_name}"


def pod_labels(volume_name: str) -> dict[str, str]:
    return {**LABELS, VOLUME_LABEL: volume_name}


def contract(volume_name: str) -> rc.Contract:
    """The Job calls nothing and nothing calls it; no ServiceAccount, no AWS identity, no API
    access. It waits for its claim (and, as every contract, its policy)."""
    return rc.Contract(
        name=job_name(volume_name),
        workload=f"the FSx root-preparation Job of volume {volume_name}",
        pods=pod_labels(volume_name),
        needs=(rc.claim_need(volume_name),),
    )


def contracts(volumes: Mapping[str, VolumeConfig]) -> list[rc.Contract]:
    """One per stack-created Lustre volume: the Jobs storage.py renders in NAMESPACE."""
    return [contract(name) for name, volume in volumes.items() if volume.stack_lustre]


def render_namespace() -> dict[str, Any]:
    """Baseline admits a root container (restricted would not) and still refuses privileged
    pods, host namespaces and added capabilities; the pack holds the Job to the rest."""
    modes = (("enforce", "baseline"), ("audit", "restricted"), ("warn", "restricted"))
    levels = {f"pod-security.kubernetes.io/{mode}": level for mode, level in modes}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NAMESPACE, "labels": {**LABELS, **levels}},
    }


def render_claim(volume_name: str, volume: VolumeConfig) -> dict[str, Any]:
    """The claim of the step's own PV of the file system (fsx.render_pv, named for NAMESPACE):
    a PV binds one claim, and the jobs namespace's claim is the jobs'."""
    return render_pvc(volume_name, volume, NAMESPACE)


def render_job(volume_name: str, image: str) -> dict[str, Any]:
    container = {
        "name": "chmod-root",
        "image": image,
        "command": ["chmod", ROOT_MODE, MOUNT],
        # Root only for ownership of the directory; no capability, no escalation.
        "securityContext": {**container_security_context(), "runAsNonRoot": False, "runAsUser": 0},
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        "volumeMounts": [{"name": "volume", "mountPath": MOUNT}],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(volume_name),
            "namespace": NAMESPACE,
            "labels": pod_labels(volume_name),
        },
        "spec": {
            "backoffLimit": 4,
            "template": {
                "metadata": {"labels": pod_labels(volume_name)},
                "spec": {
                    "restartPolicy": "Never",
                    "nodeSelector": {SYSTEM_LABEL: "true"},
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsUser": 0,
                        "runAsGroup": 0,
                        "runAsNonRoot": False,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [
                        {"name": "volume", "persistentVolumeClaim": {"claimName": volume_name}}
                    ],
                },
            },
        },
    }
