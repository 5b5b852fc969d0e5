"""What every stack config section shares: the namespace, the error type, the model base."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

PROJECT = "trainstack"
# Labels the stack itself puts on every node (components/scheduling.node_labels); jobs, device
# plugins and operators select on them, so config refuses them as user labels.
POOL_LABEL = "trainstack.io/pool"
GPU_LABEL = "trainstack.io/gpu"
EFA_LABEL = "trainstack.io/efa"
SYSTEM_LABEL = "trainstack.io/system"
STACK_LABELS = (POOL_LABEL, GPU_LABEL, EFA_LABEL, SYSTEM_LABEL)


class ConfigError(ValueError):
    """All problems of one stack config, one line each."""

    def __init__(self, issues: list[str]):
        self.issues = issues
        super().__init__("invalid stack config:\n" + "\n".join(f"  - {i}" for i in issues))


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


def key(*parts: object) -> str:
    """The config key path as a user types it: `trainstack:trainingJobs.llama.nodes`."""
    return f"{PROJECT}:" + ".".join(str(p) for p in parts)
