"""DevPod: a GPU pod on a training pool running JupyterLab and sshd from the trainer image.

Reached with `kubectl port-forward`; a LoadBalancer exists only when `loadBalancerCidrs` lists
who may connect. SSH accepts only the keys of the `trainstack:devPodSshKeys` secret, as the
image's unprivileged user. With `idleStopAfter`, trainer/idle_stop.py ends the pod once nobody
has used it for that long; `trainstack devpod start` (or `pulumi up --refresh` once its node is
gone) starts it again.
"""

from __future__ import annotations

from typing import Any

from . import artifacts_access, pod_spec, serving
from . import runtime_contract as rc
from .config import DevPodConfig, PoolFacts, VolumeConfig, pod_size

NAME = "dev-pod"
SSH_SECRET = "dev-pod-ssh"
SSH_PORT = 2222  # unprivileged: sshd runs as the image's user
JUPYTER_PORT = 8888
KEYS_MOUNT = "/etc/trainstack/ssh"
WORKSPACE = "/workspace"  # the image's WORKDIR and JupyterLab's root
USER = "trainer"  # the image's user, uid 1000 (trainer/Dockerfile useradd): the ssh login
CONTAINER = "dev"
LABELS = {"app.kubernetes.io/part-of": "trainstack", "app.kubernetes.io/name": NAME}

# sshd as a non-root user serves only that user, needs no capabilities and keeps its host key
# in the pod (new key per pod: clients see a changed host key after a restart). StrictModes off:
# $HOME is an emptyDir, which the kubelet creates root-owned and world-writable (0777), so sshd's
# ownership check of the path to authorized_keys would refuse every key; the pod has one user,
# and the keys come from a read-only Secret.
_SSH = f"""mkdir -p "$HOME/.ssh" /tmp/sshd && chmod 700 "$HOME/.ssh"
install -m 600 {KEYS_MOUNT}/authorized_keys "$HOME/.ssh/authorized_keys"
ssh-keygen -q -t ed25519 -N '' -f /tmp/sshd/host_ed25519
/usr/sbin/sshd -D -e -p {SSH_PORT} -h /tmp/sshd/host_ed25519 -o PidFile=/tmp/sshd/sshd.pid \\
  -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no -o UsePAM=no \\
  -o StrictModes=no &
"""
# Jupyter prints its login token to the pod log (`kubectl logs`); no token is stored anywhere.
_JUPYTER = f"""jupyter lab --ip=0.0.0.0 --port={JUPYTER_PORT} --no-browser \\
  --ServerApp.root_dir={WORKSPACE} &
"""


def _idle_stop(cfg: DevPodConfig, after: int) -> str:
    """The watcher (trainer/idle_stop.py) beside the servers, on the ports they listen on."""
    listened = ",".join(str(p["containerPort"]) for p in ports(cfg))
    return (
        f"python -m trainer.idle_stop --after {after} --ports {listened} "
        f"--gpu-below {cfg.idle_gpu_percent} &\n"
    )


def startup_script(cfg: DevPodConfig) -> str:
    body = "set -eu\n" + (_SSH if cfg.ssh else "") + (_JUPYTER if cfg.jupyter else "")
    after = cfg.idle_stop_seconds
    if after is not None:
        body += _idle_stop(cfg, after)
    # The first of them to exit ends the script with its status: the idle watcher's 0 ends the
    # pod Succeeded (restart_policy), a server's crash is non-zero and restarts the container,
    # so a crash is visible instead of half a dev pod.
    return body + "wait -n\n"


def restart_policy(cfg: DevPodConfig) -> str:
    """OnFailure with idle stop: exit 0 (idle) leaves the pod Succeeded and its node free;
    Always without it, as before: the pod runs until it is deleted.

    A Succeeded pod keeps its karpenter.sh/do-not-disrupt annotation, which no longer blocks the
    node: Karpenter v1 honours it only on active pods (kubernetes-sigs/karpenter v1.14.1, the core
    karpenter-provider-aws v1.14.1 pins: pkg/utils/pod/scheduling.go IsDisruptable =
    !IsActive || !IsDoNotDisruptActive, IsActive = not Succeeded/Failed nor terminating; used by
    pkg/controllers/state/statenode.go ValidatePodsDisruptable), and a terminal pod is not
    reschedulable, so the node counts as empty and is consolidated after consolidateAfter."""
    return "Always" if cfg.idle_stop_seconds is None else "OnFailure"


def ports(cfg: DevPodConfig) -> list[dict[str, Any]]:
    out = []
    if cfg.ssh:
        out.append({"name": "ssh", "containerPort": SSH_PORT})
    if cfg.jupyter:
        out.append({"name": "jupyter", "containerPort": JUPYTER_PORT})
    return out


def render_pod(
    cfg: DevPodConfig,
    *,
    namespace: str,
    image: str,
    pool: PoolFacts,
    volume_name: str | None = None,
    volume: VolumeConfig | None = None,
    service_account: str | None = None,
    identity: str | None = None,
) -> dict:
    """The pod; `identity` is its ServiceAccount's Pod Identity association id (annotated, so
    a new association recreates the pod)."""
    size = pod_size(pool, cfg.gpus, efa=False, cpu=cfg.cpu, memory=cfg.memory)
    shm, shm_mount = pod_spec.shm_volume(size)
    volumes, mounts = [shm], [shm_mount]
    if cfg.ssh:
        volumes.append(
            {"name": "ssh-keys", "secret": {"secretName": SSH_SECRET, "defaultMode": 0o440}}
        )
        mounts.append({"name": "ssh-keys", "mountPath": KEYS_MOUNT, "readOnly": True})
    if volume_name is not None and volume is not None:
        vol, mount = pod_spec.checkpoint_volume(volume_name, volume, f"{WORKSPACE}/shared")
        volumes.append(vol)
        mounts.append(mount)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": NAME,
            "namespace": namespace,
            "labels": dict(LABELS),
            "annotations": {
                **pod_spec.DO_NOT_DISRUPT,
                "pulumi.com/skipAwait": "true",
                **({pod_spec.IDENTITY_ANNOTATION: identity} if identity else {}),
            },
        },
        # sshd keeps its host key and pid under /tmp/sshd, authorized_keys under $HOME/.ssh,
        # JupyterLab its runtime/config under $HOME and notebooks in /workspace: all emptyDirs
        # (the shared volume mounts inside /workspace). Nothing here calls the Kubernetes API.
        "spec": pod_spec.with_service_account(
            pod_spec.harden_pod(
                {
                    **pod_spec.placement(pool, efa=False),
                    "restartPolicy": restart_policy(cfg),
                    "containers": [
                        {
                            "name": CONTAINER,
                            "image": image,
                            "command": ["bash", "-c", startup_script(cfg)],
                            "env": pod_spec.training_env(
                                NAME, efa=False, nccl_debug="WARN", hf_token=False
                            ),
                            "ports": ports(cfg),
                            "resources": pod_spec.resources(size),
                            "volumeMounts": mounts,
                        }
                    ],
                    "volumes": volumes,
                },
                writable={"workspace": WORKSPACE},
            ),
            service_account,
        ),
    }


def render_load_balancer(cfg: DevPodConfig, namespace: str) -> dict | None:
    """Only with an explicit allow-list: the cloud load balancer admits just those CIDRs."""
    if not cfg.load_balancer_cidrs:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": NAME,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "trainstack"},
            "annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"},
        },
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app.kubernetes.io/name": NAME},
            "loadBalancerSourceRanges": [str(n) for n in cfg.load_balancer_cidrs],
            "ports": [
                {"name": p["name"], "port": p["containerPort"], "targetPort": p["name"]}
                for p in ports(cfg)
            ],
        },
    }


def contract_pods() -> dict[str, str]:
    """The labels its contract and every policy naming it select on."""
    return {"app.kubernetes.io/name": NAME}


def contract(
    cfg: DevPodConfig,
    *,
    service_account: str | None,
    https_except_vpc: str | None,
    claim: str | None,
    servers: tuple[str, ...] = (),
) -> rc.Contract:
    """What the dev pod talks to: DNS, HTTPS out (pip, the hub, S3 with the job identity) and
    the stack's model servers (`servers`, components/serving.py) on their port; who calls it:
    its load balancer's clients on ssh and JupyterLab, when it has one (the NLB keeps the
    client's address; its loadBalancerSourceRanges are the allow-list).
    `kubectl port-forward` enters through the kubelet, inside the pod: no flow."""
    needs = []
    if cfg.ssh:
        needs.append(rc.secret_need(SSH_SECRET))
    if claim is not None:
        needs.append(rc.claim_need(claim))
    lb = render_load_balancer(cfg, "")
    called_by = ()
    if lb is not None:
        ports = tuple(rc.Port(p["port"]) for p in lb["spec"]["ports"])
        called_by = (rc.anyone("the dev pod's load balancer clients", ports),)
    return rc.Contract(
        name=NAME,
        workload="the dev pod",
        pods=contract_pods(),
        calls=(
            rc.dns(),
            rc.https_outside(https_except_vpc),
            *(serving.dev_pod_call(name) for name in servers),
        ),
        called_by=called_by,
        service_account=service_account,
        aws_identity=service_account is not None,
        # It runs the trainer by hand: the jobs' access to the artifacts bucket, no more.
        aws_access=artifacts_access.read_data_write_results() if service_account else (),
        needs=tuple(needs),
    )
