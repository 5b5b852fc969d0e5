import pytest
from support import stack_data


@pytest.fixture
def dev():
    """The dev stack's `trainstack:*` values, a fresh copy per test."""
    return stack_data("dev")[0]
