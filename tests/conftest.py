"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest

from trainstack import crds


@pytest.fixture(scope="session")
def pinned_crds() -> crds.CrdSet:
    """The pinned upstream CRDs; a test that validates custom resources skips without them
    (a clone with no network and no TRAINSTACK_CRD_DIR), saying how to provide them."""
    found = crds.ensure(fetch=True)
    if not found.complete:
        pytest.skip(found.notice())
    return found
