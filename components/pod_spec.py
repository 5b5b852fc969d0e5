"""The pod template pieces every GPU workload shares: placement on a pool, GPU/EFA resources,
/dev/shm, the checkpoint volume, the NCCL/torch environment and the HF token reference.

Pure functions returning Kubernetes JSON, so training jobs and the dev pod are rendered the same
way and validated against the schemas without a cluster.
"""

from __future__ import annotations

from typing import Any

from policies.required import POD_IDENTITY_ANNOTATION

from .config import PodSize, PoolFacts, VolumeConfig
from .scheduling import EFA_LABEL, GPU_TOLERATION, POOL_LABEL

CHECKPOINT_MOUNT = "/checkpoints"
HF_TOKEN_SECRET = "hf-token"
HF_TOKEN_KEY = "token"
# Every pod of a job carries it (PyTorchJob replicas, Ray head, workers and submitter): the
# NetworkPolicy that lets a job's pods talk selects on it.
JOB_LABEL = "trainstack.io/job"
# ... and its role in the job (job_contracts.ROLES): each role's NetworkPolicy selects on both.
ROLE_LABEL = "trainstack.io/role"
# On a pod template: the Pod Identity association its credentials come from, so replacing the
# association changes the template and the pods are recreated (the webhook injects credentials
# only at admission). The pack reads it (policies/rules/service_accounts.py).
IDENTITY_ANNOTATION = POD_IDENTITY_ANNOTATION
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
    return (
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": size.shm}},
        {"name": "dshm", "mountPath": "/dev/shm"},
    )


def claim_name(volume_name: str, volume: VolumeConfig) -> str:
    return volume.existing_claim or volume_name


def lustre_pv_name(namespace: str, volume_name: str) -> str:
    """The PV of a stack-created FSx for Lustre volume (cluster-scoped, so namespaced by name)."""
    return f"{namespace}-{volume_name}"


def checkpoint_volume(
    volume_name: str, volume: VolumeConfig, mount: str = CHECKPOINT_MOUNT
) -> tuple[dict, dict]:
    return (
        {
            "name": "checkpoints",
            "persistentVolumeClaim": {"claimName": claim_name(volume_name, volume)},
        },
        {"name": "checkpoints", "mountPath": mount},
    )


def render_pvc(volume_name: str, volume: VolumeConfig, namespace: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteMany" if volume.shared else "ReadWriteOnce"],
        "storageClassName": volume.storage_class,
        "resources": {"requests": {"storage": volume.size}},
    }
    if volume.stack_lustre:
        # The file system's static PV (components/fsx.render_pv): class "" so no provisioner
        # acts, volumeName to bind that PV and no other.
        spec["storageClassName"] = ""
        spec["volumeName"] = lustre_pv_name(namespace, volume_name)
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": volume_name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "trainstack"},
        },
        "spec": spec,
    }


# Pod Security Standards "restricted" (kubernetes.io/docs/concepts/security/pod-security-standards,
# enforced by the jobs namespace's labels): every pod the stack renders goes through harden_pod().
HOME_DIR = "/home/trainer"  # the trainer user's home (trainer/Dockerfile: useradd --create-home)
TMP_DIR = "/tmp"
# Writable emptyDirs over the read-only root: name -> mount path. Everything the trainer, torch,
# Triton, NCCL, Hugging Face, matplotlib and Ray write goes under one of these (cache_env below).
WRITABLE_DIRS = {"home": HOME_DIR, "tmp": TMP_DIR}


def cache_env(home: str = HOME_DIR, tmp: str = TMP_DIR) -> dict[str, str]:
    """Where each library writes, pointed into the writable dirs explicitly, so no default
    (a cwd, an unknown user's home) lands on the read-only root."""
    return {
        "HOME": home,
        "TMPDIR": tmp,  # tempfile (torchrun's log dir), and Ray's /tmp/ray session dir
        "XDG_CACHE_HOME": f"{home}/.cache",
        "XDG_CONFIG_HOME": f"{home}/.config",
        "TORCH_HOME": f"{home}/.cache/torch",  # hub and checkpoints downloads
        "HF_HOME": f"{home}/.cache/huggingface",  # hub, datasets, token
        "TRITON_CACHE_DIR": f"{home}/.triton/cache",  # Triton's default (~/.triton/cache)
        # Inductor's default is /tmp/torchinductor_<getpass user>; fixed so no user lookup.
        "TORCHINDUCTOR_CACHE_DIR": f"{tmp}/torchinductor_trainer",
        "MPLCONFIGDIR": f"{home}/.config/matplotlib",
        # Flight-recorder dumps on a collective timeout (TORCH_NCCL_DUMP_ON_TIMEOUT=1);
        # torch's default prefix is /tmp/nccl_trace_rank_.
        "TORCH_NCCL_DEBUG_INFO_TEMP_FILE": f"{tmp}/nccl_trace_rank_",
        # The image's site-packages and /opt/trainstack are read-only: no __pycache__ writes.
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def security_context() -> dict[str, Any]:
    """Pod level: the image's user, never root, the runtime's default seccomp profile; fsGroup
    makes the volumes writable for that user."""
    return {
        "runAsUser": TRAINER_UID,
        "runAsGroup": TRAINER_UID,
        "fsGroup": TRAINER_UID,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """Container level: nothing gained after start, no capabilities, a read-only root.
    EFA needs no capability here (the EFA comment below)."""
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


# EFA in a restricted pod (checked for issue 13):
# - Devices: the EFA device plugin (aws/eks-charts stable/aws-efa-k8s-device-plugin) hands the
#   /dev/infiniband/uverbs* devices to a pod that requests vpc.amazonaws.com/efa; the plugin
#   itself is the privileged part (its README: privileged securityContext), the pod is not.
# - Locked memory: libfabric's EFA provider registers (pins) buffers and fails with
#   "Cannot allocate memory (-12)" when RLIMIT_MEMLOCK is low (libfabric prov/efa docs: set it
#   unlimited). Kubernetes has no per-pod ulimit field (KEP-5758 is only proposed), so the limit
#   is the node runtime's: amazon-eks-ami's AL2023 base-runtime-spec.json
#   (nodeadm/internal/containerd) sets only RLIMIT_NOFILE, so containers inherit containerd's
#   own memlock limit from its systemd unit on the EKS GPU AMI.
# - IPC_LOCK would not help: the kernel checks it only above the limit, and a uid-1000 process
#   has an empty effective capability set even when the capability is "added" (Kubernetes sets
#   no ambient capabilities). So EFA pods add nothing, and the EFA selftest the pod runs first
#   (trainer/selftest.py --expect-efa) fails with libfabric's reason if the node's limit is
#   too low. Only a real EFA node can confirm the AMI's limit.


def harden_pod(
    spec: dict[str, Any], *, writable: dict[str, str] | None = None, api_access: bool = False
) -> dict[str, Any]:
    """Make a pod spec meet the "restricted" profile in place, and return it: pod and container
    security contexts, the service-account token only when `api_access` (the pod calls the
    Kubernetes API), emptyDirs at every writable path (WRITABLE_DIRS plus `writable`) mounted in
    every container, and the cache environment. A container's own env entries win."""
    dirs = {**WRITABLE_DIRS, **(writable or {})}
    spec["securityContext"] = security_context()
    spec["automountServiceAccountToken"] = api_access
    volumes = spec.setdefault("volumes", [])
    have = {v["name"] for v in volumes}
    volumes += [
        {"name": f"writable-{name}", "emptyDir": {}}
        for name in dirs
        if f"writable-{name}" not in have
    ]
    env = cache_env()
    for c in [*spec.get("initContainers", []), *spec["containers"]]:
        c["securityContext"] = container_security_context()
        mounts = c.get("volumeMounts", [])
        mounted = {m["mountPath"] for m in mounts}
        # Parents first, so a volume mounted inside one (the dev pod's /workspace/shared) stays.
        c["volumeMounts"] = [
            {"name": f"writable-{name}", "mountPath": path}
            for name, path in dirs.items()
            if path not in mounted
        ] + mounts
        own = {e["name"] for e in c.get("env", [])}
        c["env"] = [{"name": k, "value": v} for k, v in env.items() if k not in own] + c.get(
            "env", []
        )
    return spec


def training_env(
    job_name: str,
    *,
    efa: bool,
    nccl_debug: str,
    hf_token: bool,
    extra: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
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
        env += [{"name": "FI_PROVIDER", "value": "efa"}, {"name": "FI_EFA_FORK_SAFE", "value": "1"}]
    if hf_token:
        env.append(hf_token_env())
    env += [{"name": k, "value": v} for k, v in sorted((extra or {}).items())]
    return env


def hf_token_env() -> dict[str, Any]:
    """HF_TOKEN from the Secret the stack makes of `trainstack:hfToken` (jobs and servers)."""
    return {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": HF_TOKEN_SECRET, "key": HF_TOKEN_KEY}},
    }


def render_secret(name: str, namespace: str, data: dict[str, Any]) -> dict[str, Any]:
    """An Opaque Secret; `data` values may be secret Outputs and stay secret in the engine."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "trainstack"},
        },
        "stringData": data,
    }


def render_service_account(name: str, namespace: str) -> dict[str, Any]:
    """The ServiceAccount jobs run under: EKS Pod Identity maps it to an IAM role. It gives no
    Kubernetes API token (harden_pod leaves the pods' automount off); the Pod Identity webhook
    adds its own projected token, audience pods.eks.amazonaws.com, in a volume of its own
    (aws/amazon-eks-pod-identity-webhook, pkg/handler testdata containercredentials/
    rawPodWithoutVolumes.pod.yaml: a pod without volumes gets the projected serviceAccountToken
    volume and AWS_CONTAINER_CREDENTIALS_FULL_URI / AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "trainstack"},
        },
        "automountServiceAccountToken": False,
    }


def with_service_account(spec: dict[str, Any], service_account: str | None) -> dict[str, Any]:
    """`spec` running under `service_account` (None: the namespace's default)."""
    if service_account is not None:
        spec["serviceAccountName"] = service_account
    return spec
