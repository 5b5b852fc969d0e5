"""Reading the watcher's settings from its Deployment's environment (components/
jobwatch_manifests.py renders them from the validated stack config)."""

from __future__ import annotations

from collections.abc import Mapping


def positive_number(env: Mapping[str, str], name: str, default: float) -> float:
    """`env[name]` as a number, `default` when unset or empty; anything that is not a positive
    number raises ValueError naming the variable."""
    text = env.get(name)
    try:
        value = float(text) if text else default
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ValueError(f"{name}={text!r}: expected a positive number")
    return value
