"""Offline mock harness shared by the tests and the ``plan`` command."""

from .harness import (
    ACCOUNT_ID,
    Captured,
    OfflineHarnessError,
    OfflineMockError,
    OfflinePlan,
    contains_secrets,
    is_secret,
    mask_secrets,
    run_program,
    unwrap_secrets,
)
from .stack_config import StackConfig, StackFileError, available_stacks, load_stack_config

__all__ = [
    "ACCOUNT_ID",
    "Captured",
    "OfflineHarnessError",
    "OfflineMockError",
    "OfflinePlan",
    "StackConfig",
    "StackFileError",
    "available_stacks",
    "contains_secrets",
    "is_secret",
    "load_stack_config",
    "mask_secrets",
    "run_program",
    "unwrap_secrets",
]
