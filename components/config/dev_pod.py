"""`trainstack:devPod`: one interactive GPU pod (Jupyter, SSH) on a pool, for trying things
before a training job."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection

from pydantic import Field, field_validator

from .base import _Model, key
from .checks import unknown_pool, unknown_volume
from .pools import DURATION, PoolFacts, duration_seconds
from .sizing import CPU_QUANTITY, QUANTITY, check_pool_fit, check_resources

# trainer/idle_stop.py checks once a minute, and a new pod needs minutes (node, image pull) before
# anyone can connect: a shorter idle time would stop pods nobody had a chance to use.
MIN_IDLE_STOP_S = 600
IDLE_STOP_OFF = ("", "0")


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
    # Stop the pod after this long with no ssh/Jupyter session and every GPU below
    # idleGpuPercent (trainer/idle_stop.py); "0" or null: never.
    idle_stop_after: str | None = "2h"
    idle_gpu_percent: int = Field(default=5, ge=1, le=100)

    @field_validator("idle_stop_after", mode="before")
    @classmethod
    def _zero_as_text(cls, v: object) -> object:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @property
    def idle_stop_seconds(self) -> int | None:
        """Seconds of idle before the pod stops, or None when idle stop is off."""
        if self.idle_stop_after is None or self.idle_stop_after in IDLE_STOP_OFF:
            return None
        return duration_seconds(self.idle_stop_after)


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
    after = d.idle_stop_after
    if after is not None and after not in IDLE_STOP_OFF:
        if not re.match(DURATION, after):
            issues.append(
                f"{key(*path, 'idleStopAfter')} = {after!r}: not a duration; allowed: "
                'hours, minutes, seconds such as "2h", "30m", "1h30m"; "0" or null turns '
                "idle stop off"
            )
        elif duration_seconds(after) < MIN_IDLE_STOP_S:
            issues.append(
                f"{key(*path, 'idleStopAfter')} = {after!r}: under 10m, the pod could stop "
                'before anyone connects; use 10m or more, or "0" to turn idle stop off'
            )
    if d.volume is not None and d.volume not in volumes:
        issues.append(unknown_volume(key(*path, "volume"), d.volume, volumes))
    return issues
