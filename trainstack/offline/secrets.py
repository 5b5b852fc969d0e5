"""Secret values as the mock engine passes them: ``{<sig>: <secret sig>, "value": ...}``.

Inputs and outputs keep the SDK's secret wrapper, so a test can prove a value stayed secret; these
helpers find, unwrap or mask the wrappers.
"""

from __future__ import annotations

import copy
from typing import Any

from .sdk import rpc

SECRET_MASK = "[secret]"

__all__ = ["SECRET_MASK", "contains_secrets", "is_secret", "mask_secrets", "unwrap_secrets"]


def is_secret(value: Any) -> bool:
    """True if ``value`` is a secret as the engine passes it (``{<sig>: <secret sig>, value}``)."""
    return rpc.is_rpc_secret(value)


def contains_secrets(value: Any) -> bool:
    """True if ``value`` is, or contains anywhere, a wrapped secret."""
    if is_secret(value):
        return True
    if isinstance(value, dict):
        return any(contains_secrets(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(contains_secrets(v) for v in value)
    return False


def unwrap_secrets(value: Any) -> Any:
    """Deep copy of ``value`` with every secret wrapper replaced by the value it wraps."""
    if is_secret(value):
        return unwrap_secrets(value["value"])
    if isinstance(value, dict):
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [unwrap_secrets(v) for v in value]
    return copy.deepcopy(value)


def mask_secrets(value: Any) -> Any:
    """Deep copy of ``value`` with every secret replaced by the string ``"[secret]"``."""
    if is_secret(value):
        return SECRET_MASK
    if isinstance(value, dict):
        return {k: mask_secrets(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_secrets(v) for v in value]
    return copy.deepcopy(value)
