"""Offline mock harness shared by the tests and the ``plan`` command."""

from . import harness, stack_config
from .harness import *  # noqa: F403
from .stack_config import *  # noqa: F403

__all__ = [*harness.__all__, *stack_config.__all__]
