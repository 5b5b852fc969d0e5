"""What a run of `python -m automation` is asked to do, as the parser (cli.py) builds it and the
driver (run.py) reads it: kept apart from both so that the driver does not import the parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

OPERATIONS = ("preview", "up", "refresh", "destroy")
# The SDK only accepts policy packs on preview and up (pulumi 3.272), so they are the only
# operations where --policy-pack means something.
POLICY_OPERATIONS = ("preview", "up")
DEFAULT_NAMESPACE = "trainstack"


class UsageError(Exception):
    """Bad command line; maps to exit code 2."""


@dataclass(frozen=True)
class ConfigEdit:
    key: str
    value: str
    secret: bool = False


@dataclass(frozen=True)
class Options:
    operation: str
    stack: str
    project_dir: Path
    config: list[ConfigEdit] = field(default_factory=list)
    policy_packs: list[str] = field(default_factory=list)
    summary_path: Path | None = None
    progress: str = "events"
    message: str | None = None
