"""Offline mock engine shared by the tests and the ``plan`` command (docs/offline-testing.md).

``engine.run_program`` runs the Pulumi program under the SDK's mocks (``sdk``: the pinned SDK,
``monitor``: the mock monitor, ``fakes/``: what it answers) and returns a ``captured.OfflinePlan``;
``secrets`` finds and masks secret values; ``stack_config`` reads ``Pulumi.<stack>.yaml``.
"""

from . import stack_config
from .captured import Captured, OfflinePlan
from .engine import run_program
from .fakes.invokes import OfflineMockError
from .fakes.values import ACCOUNT_ID
from .sdk import PULUMI_VERSION, OfflineHarnessError
from .secrets import contains_secrets, is_secret, mask_secrets, unwrap_secrets
from .stack_config import *  # noqa: F403

__all__ = [
    "ACCOUNT_ID",
    "Captured",
    "OfflineHarnessError",
    "OfflineMockError",
    "OfflinePlan",
    "PULUMI_VERSION",
    "contains_secrets",
    "is_secret",
    "mask_secrets",
    "run_program",
    "unwrap_secrets",
    *stack_config.__all__,
]
