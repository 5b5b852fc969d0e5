"""The Pulumi SDK as the offline engine uses it: the version guard, then the private modules.

The engine reaches into private SDK modules (``pulumi.runtime.mocks``/``rpc``/``settings``/
``stack``), so the SDK is pinned to one minor version (``pyproject.toml``) and this module refuses
any other at import. Every offline module imports those SDK modules from here, so none of them can
load before the check has run.
"""

from __future__ import annotations

from importlib import metadata

SUPPORTED_PULUMI = (3, 272)


class OfflineHarnessError(Exception):
    """The offline harness cannot work here (e.g. unsupported SDK version)."""


def check_sdk_version(version: str | None = None) -> str:
    """Return the installed pulumi SDK version; raise if it is not the supported minor."""
    if version is None:
        try:
            version = metadata.version("pulumi")
        except metadata.PackageNotFoundError as exc:  # pragma: no cover
            raise OfflineHarnessError("the pulumi Python SDK is not installed") from exc
    parts = version.split(".")
    try:
        major_minor = (int(parts[0]), int(parts[1]))
    except (IndexError, ValueError):  # pragma: no cover
        major_minor = (-1, -1)
    if major_minor != SUPPORTED_PULUMI:
        want = ".".join(map(str, SUPPORTED_PULUMI))
        raise OfflineHarnessError(
            f"trainstack.offline supports pulumi {want}.x only, found {version}: the harness "
            "uses private SDK modules (pulumi.runtime.mocks/rpc/settings/stack); re-check every "
            "trick tested in tests/offline/ (docs/offline-testing.md) before widening the pin"
        )
    return version


PULUMI_VERSION = check_sdk_version()

# Private SDK modules: only import them once the version is known to be supported.
import pulumi  # noqa: E402
from pulumi.runtime import mocks, rpc, settings  # noqa: E402
from pulumi.runtime.proto import provider_pb2, resource_pb2  # noqa: E402
from pulumi.runtime.stack import run_in_stack  # noqa: E402
from pulumi.runtime.sync_await import _ensure_event_loop as ensure_event_loop  # noqa: E402
from pulumi.runtime.sync_await import _sync_await as sync_await  # noqa: E402

__all__ = [
    "PULUMI_VERSION",
    "SUPPORTED_PULUMI",
    "OfflineHarnessError",
    "check_sdk_version",
    "ensure_event_loop",
    "mocks",
    "provider_pb2",
    "pulumi",
    "resource_pb2",
    "rpc",
    "run_in_stack",
    "settings",
    "sync_await",
]
