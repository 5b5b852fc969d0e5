"""The pod template pieces every GPU workload shares: placement on a pool, GPU/EFA resources,
/dev/shm, the checkpoint volume, the NCCL/torch environment and the HF token reference.

Pure functions returning Kubernetes JSON, so training jobs and the dev pod are rendered the same
way and validated against the schemas without a cluster.
"""

from __future__ import annotations

from typing import Any

from .scheduling import EFA_LABEL, GPU_TOLERATION, POOL_LABEL
from .workload_config import PodSize, PoolFacts, VolumeConfig

CHECKPOINT_MOUNT = "/checkpoints"
HF_TOKEN_SECRET = "hf-token"
HF_TOKEN_KEY = "token"
TRAINER_UID = 1000  # the trainer image's user (trainer/Dockerfile)
# Karpenter never consolidates or drifts a node away from under these pods.
DO_NOT_DISRUPT = {"karpenter.sh/do-not-disrupt": "true"}


def placement(pool: PoolFacts, *, efa: bool) -> dict[str, Any]:
    """nodeSelector and tolerations that land a pod on `pool`'s GPU nodes only."""
    # Karpenter labels its nodes with their NodePool; managed node groups carry our pool label.
    selector = {"karpenter.sh/nodepool": pool.name} if pool.karpenter else {POOL_LABEL: pool.name}
    if efa and not pool.karpenter:
        selector[EFA_LABEL] = "true"
    return {"nodeSelector": selector, "tolerations": [dict(GPU_TOLERATION)]}


def resources(size: PodSize) -> dict[str, Any]:
    """GPU and EFA as requests = limits (extended resources allow nothing else); memory limited
    to its request so a leak is OOM-killed in its own pod; no CPU limit (throttling stalls NCCL)."""
    requests: dict[str, Any] = {"cpu": size.cpu, "memory": size.memory}
    limits: dict[str, Any] = {"memory": size.memory}
    if size.gpus:
        requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = size.gpus
    if size.efa:
        requests["vpc.amazonaws.com/efa"] = limits["vpc.amazonaws.com/efa"] = size.efa
    return {"requests": requests, "limits": limits}


def shm_volume(size: PodSize) -> tuple[dict, dict]:
    """/dev/shm in memory with a bound: the container default of 64 MiB breaks NCCL."""
    return ({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": size.shm}},
            {"name": "dshm", "mountPath": "/dev/shm"})


def claim_name(volume_name: str, volume: VolumeConfig) -> str:
    return volume.existing_claim or volume_name


def checkpoint_volume(volume_name: str, volume: VolumeConfig,
                      mount: str = CHECKPOINT_MOUNT) -> tuple[dict, dict]:
    return ({"name": "checkpoints",
             "persistentVolumeClaim": {"claimName": claim_name(volume_name, volume)}},
            {"name": "checkpoints", "mountPath": mount})


def render_pvc(volume_name: str, volume: VolumeConfig, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": volume_name, "namespace": namespace,
                     "labels": {"app.kubernetes.io/part-of": "trainstack"}},
        "spec": {
            "accessModes": ["ReadWriteMany" if volume.shared else "ReadWriteOnce"],
            "storageClassName": volume.storage_class,
            "resources": {"requests": {"storage": volume.size}},
        },
    }


def security_context() -> dict[str, Any]:
    """Run as the image's user; fsGroup makes the volume writable for it."""
    return {"runAsUser": TRAINER_UID, "runAsGroup": TRAINER_UID, "fsGroup": TRAINER_UID,
            "runAsNonRoot": True}


def container_security_context() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def training_env(job_name: str, *, efa: bool, nccl_debug: str, hf_token: bool,
                 extra: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The NCCL/torch environment of production GPU jobs (docs/upstream-facts.md)."""
    env = [
        {"name": "JOB_NAME", "value": job_name},
        {"name": "NCCL_DEBUG", "value": nccl_debug},
        # Any interface but loopback: pod networking names interfaces differently per CNI.
        {"name": "NCCL_SOCKET_IFNAME", "value": "^lo"},
        {"name": "TORCH_NCCL_ASYNC_ERROR_HANDLING", "value": "1"},
        # On a collective timeout, dump what each rank was doing before the process dies.
        {"name": "TORCH_NCCL_DUMP_ON_TIMEOUT", "value": "1"},
        {"name": "PYTORCH_CUDA_ALLOC_CONF", "value": "expandable_segments:True"},
        {"name": "TOKENIZERS_PARALLELISM", "value": "false"},
    ]
    if efa:
        # g4dn/g5 have no GPUDirect RDMA, so FI_EFA_USE_DEVICE_RDMA stays unset.
        env += [{"name": "FI_PROVIDER", "value": "efa"},
                {"name": "FI_EFA_FORK_SAFE", "value": "1"}]
    if hf_token:
        env.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {
            "name": HF_TOKEN_SECRET, "key": HF_TOKEN_KEY}}})
    env += [{"name": k, "value": v} for k, v in sorted((extra or {}).items())]
    return env


def render_secret(name: str, namespace: str, data: dict[str, Any]) -> dict[str, Any]:
    """An Opaque Secret; `data` values may be secret Outputs and stay secret in the engine."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"app.kubernetes.io/part-of": "trainstack"}},
            "stringData": data}
