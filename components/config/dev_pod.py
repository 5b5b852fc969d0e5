"""`trainstack:devPod`: one interactive GPU pod (Jupyter, SSH) on a pool, for trying things
before a training job."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection

from pydantic import Field

from .base import _Model, key
from .checks import unknown_pool, unknown_volume
from .pools import PoolFacts
from .sizing import CPU_QUANTITY, QUANTITY, check_pool_fit, check_resources


class DevPodConfig(_Model):
    enabled: bool = False
    node_pool: str | None = None
    gpus: int = Field(default=1, ge=0)
    cpu: str | None = Field(default=None, pattern=CPU_QUANTITY)
    memory: str | None = Field(default=None, pattern=QUANTITY)
    jupyter: bool = True
    ssh: bool = True  # authorized keys from `trainstack:devPodSshKeys` (a secret)
    # Empty: reachable only through `kubectl port-forward`. Listed: a LoadBalancer for these.
    load_balancer_cidrs: list[ipaddress.IPv4Network] = []
    volume: str | None = None  # a volume from `volumes`, mounted at /workspace/shared


def check_dev_pod(
    d: DevPodConfig,
    pools: dict[str, PoolFacts],
    volumes: Collection[str],
    secrets: set[str],
) -> list[str]:
    path = ("devPod",)
    if not d.enabled:
        return []
    issues = []
    pool = pools.get(d.node_pool or "")
    if pool is None:
        issues.append(unknown_pool(key(*path, "nodePool"), d.node_pool, pools))
    else:
        fit = check_pool_fit((*path, "gpus"), pool, d.gpus)
        issues += fit or check_resources(path, pool, d.gpus, d.cpu, d.memory)
    if d.ssh and "devPodSshKeys" not in secrets:
        issues.append(
            f"{key(*path, 'ssh')} = true: no keys; run `pulumi config set --secret "
            'trainstack:devPodSshKeys "$(cat ~/.ssh/id_ed25519.pub)"`'
        )
    if not (d.ssh or d.jupyter):
        issues.append(f"{key(*path)}: enable ssh or jupyter, or nothing can reach the pod")
    for i, net in enumerate(d.load_balancer_cidrs):
        if net.prefixlen == 0:
            issues.append(
                f"{key(*path, 'loadBalancerCidrs')}[{i}] = '{net}': opens the pod to "
                "the whole internet; list your office or VPN range, or use "
                "kubectl port-forward"
            )
    if d.volume is not None and d.volume not in volumes:
        issues.append(unknown_volume(key(*path, "volume"), d.volume, volumes))
    return issues
