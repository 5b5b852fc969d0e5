"""What a run of `python -m automation` is asked to do, as the parser (cli.py) builds it and the
driver (run.py) reads it: kept apart from both so that the driver does not import the parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# `summary` runs no Pulumi CLI: the offline plan's policy result and prices (automation/offline.py).
OPERATIONS = ("preview", "up", "refresh", "destroy", "summary")
# The SDK only accepts policy packs on preview and up (pulumi 3.272), so they are the only
# operations where --policy-pack means something.
POLICY_OPERATIONS = ("preview", "up")
# Stack.preview/up take refresh=, Stack.preview expect_no_changes= (pulumi/automation/_stack.py
# at 3.272.0, passed on as `--refresh` and `--expect-no-changes` by _parse_extra_args).
REFRESH_OPERATIONS = ("preview", "up")
EXPECT_NO_CHANGES_OPERATIONS = ("preview",)
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
    markdown_path: Path | None = None
    base_stack_file: Path | None = None
    refresh: bool = False
    expect_no_changes: bool = False

    @property
    def secret_values(self) -> list[str]:
        """What must never appear in a summary: the values of the secret edits."""
        return [e.value for e in self.config if e.secret and e.value]
