"""The SDK pin (trainstack/offline/sdk.py): the engine uses private SDK modules, so it refuses
any other pulumi minor at import (docs/offline-testing.md, trap 7)."""

from __future__ import annotations

import pytest

from trainstack.offline.sdk import (
    PULUMI_VERSION,
    SUPPORTED_PULUMI,
    OfflineHarnessError,
    check_sdk_version,
)


def test_sdk_version_is_pinned():
    assert tuple(int(p) for p in PULUMI_VERSION.split(".")[:2]) == SUPPORTED_PULUMI
    assert check_sdk_version("3.272.9") == "3.272.9"
    with pytest.raises(OfflineHarnessError, match="supports pulumi 3.272.x only, found 3.273.0"):
        check_sdk_version("3.273.0")
