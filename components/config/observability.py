"""`trainstack:observability`: the Amazon CloudWatch Observability EKS add-on (Container Insights
with enhanced observability, GPU and EFA metrics) and the endpoint the trainer sends its figures
to (components/observability.py). On by default: it costs nothing while no node runs but the
system nodes (docs/observability.md)."""

from __future__ import annotations

import re

from pydantic import Field

from .. import versions
from .base import _Model, key

# Where the add-on installs the agent, its operator and DCGM exporter: fixed by EKS, not chosen.
NAMESPACE = "amazon-cloudwatch"
# An EKS add-on build: v<major>.<minor>.<patch>-eksbuild.<n>.
ADDON_VERSION = r"^v(\d+)\.(\d+)\.(\d+)-eksbuild\.\d+$"


class ObservabilityConfig(_Model):
    enabled: bool = True
    # The add-on build; its configuration keys are checked against the chart of the default pin.
    addon_version: str = Field(
        default=versions.CLOUDWATCH_OBSERVABILITY_ADDON_VERSION, pattern=ADDON_VERSION
    )
    # Every container's stdout/stderr to CloudWatch Logs through Fluent Bit: billed per GB
    # ingested, and a training job's log lines are already in its pods and metrics.jsonl.
    container_logs: bool = False


def check_observability(cfg: ObservabilityConfig) -> list[str]:
    if not cfg.enabled:
        return []
    found = re.match(ADDON_VERSION, cfg.addon_version)
    since = versions.CLOUDWATCH_OBSERVABILITY_POD_IDENTITY_SINCE
    if found and tuple(int(n) for n in found.groups()) < since:
        return [
            f"{key('observability', 'addonVersion')} = {cfg.addon_version!r}: the agent gets "
            f"its AWS credentials through EKS Pod Identity, which the add-on supports from "
            f"v{'.'.join(map(str, since))}; use that or later (default "
            f"{versions.CLOUDWATCH_OBSERVABILITY_ADDON_VERSION})"
        ]
    return []
