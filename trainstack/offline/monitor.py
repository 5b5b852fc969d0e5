"""The mock monitor: the stock ``MockMonitor`` plus what the offline engine needs of it.

It keeps what the stock one drops (a registration's parent, whether it is remote, its dependencies
and update options), builds URNs as the engine does, and steps around three traps of
docs/offline-testing.md: resource references in a request (trap 2) are replaced before the stock
code deserializes them, method calls on remote components (trap 3) are routed to ``Mocks.call``,
and the resources a plugin would create (trap 1) can be registered as fakes.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format, struct_pb2

from .sdk import ensure_event_loop, provider_pb2, resource_pb2, rpc, settings, sync_await
from .sdk import mocks as sdk_mocks

__all__ = ["OfflineMonitor", "strip_provider_id"]

# --------------------------------------------------------------------------------------------
# Resource references in request structs (trap 2)
# --------------------------------------------------------------------------------------------


def _is_ref(d: Any) -> bool:
    return isinstance(d, dict) and d.get(rpc._special_sig_key) == rpc._special_resource_sig


def _downgrade_refs(value: Any, prefer_id: bool) -> Any:
    if _is_ref(value):
        ref_id = value.get("id")
        if prefer_id and isinstance(ref_id, str) and ref_id:
            return ref_id
        return value["urn"]
    if isinstance(value, dict):
        return {k: _downgrade_refs(v, prefer_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_downgrade_refs(v, prefer_id) for v in value]
    return value


def _struct_without_refs(struct: struct_pb2.Struct, prefer_id: bool) -> struct_pb2.Struct:
    """Copy of ``struct`` where resource references are replaced by a URN (or ID) string.

    Deserializing a reference in the monitor's worker thread builds a Resource bound to that
    thread's event loop, which later fails with "attached to a different loop".
    """
    plain = json_format.MessageToDict(struct)
    out = struct_pb2.Struct()
    out.update(_downgrade_refs(plain, prefer_id))
    return out


def strip_provider_id(ref: str) -> str | None:
    if not ref:
        return None
    urn, sep, _id = ref.rpartition("::")
    return urn if sep and urn.startswith("urn:pulumi:") else ref


# --------------------------------------------------------------------------------------------
# The mock monitor
# --------------------------------------------------------------------------------------------


@dataclass
class _Request:
    urn: str
    parent: str | None
    remote: bool
    dependencies: list[str]
    read_id: str | None = None
    options: dict = field(default_factory=dict)


class OfflineMonitor(sdk_mocks.MockMonitor):
    """MockMonitor that keeps what the stock one drops (parent, remote) and fixes traps 2-3."""

    def __init__(self, mocks: sdk_mocks.Mocks):
        super().__init__(mocks)
        self._local = threading.local()
        self._thread_loops: set[asyncio.AbstractEventLoop] = set()
        self._loops_lock = threading.Lock()
        self.stack_outputs: dict | None = None
        self.stack_urn: str | None = None

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # Like the engine (and pulumi.create_urn): a child's type is qualified by its parent's
        # whole qualified type, except under the root stack. The stock mock keeps only the
        # parent's last type and qualifies top-level resources with `pulumi:pulumi:Stack$`.
        if parent:
            parent_qualified = parent.split("::")[2]
            if parent_qualified != "pulumi:pulumi:Stack":
                type_ = parent_qualified + "$" + type_
        return "urn:pulumi:" + "::".join(
            [settings.get_stack(), settings.get_project(), type_, name]
        )

    def register_fake(self, parent_urn: str, typ: str, name: str, id_: str, state: dict) -> dict:
        """Register a resource the plugin would have created and return a reference to it."""
        urn = self.make_urn(parent_urn, typ, name)
        self.resources[urn] = sdk_mocks.MockMonitor.ResourceRegistration(urn, id_, state)
        return {rpc._special_sig_key: rpc._special_resource_sig, "urn": urn, "id": id_}

    def state_of(self, urn: Any) -> dict:
        """State of a registered resource given its URN (inputs hold URNs of resources)."""
        if isinstance(urn, str) and urn in self.resources:
            return self.resources[urn].state or {}
        return {}

    def current_request(self) -> _Request | None:
        return getattr(self._local, "request", None)

    def _track_thread_loop(self) -> None:
        """The stock monitor gives each worker thread its own event loop: remember it."""
        loop = ensure_event_loop()
        with self._loops_lock:
            self._thread_loops.add(loop)

    def close_thread_loops(self, keep: asyncio.AbstractEventLoop) -> None:
        with self._loops_lock:
            loops, self._thread_loops = self._thread_loops, set()
        for loop in loops:
            if loop is not keep and not loop.is_running() and not loop.is_closed():
                loop.close()

    def RegisterResource(self, request):
        self._track_thread_loop()
        if request.type == "pulumi:pulumi:Stack":
            self.stack_urn = self.make_urn(request.parent, request.type, request.name)
            return super().RegisterResource(request)

        fixed = resource_pb2.RegisterResourceRequest()
        fixed.CopyFrom(request)
        # The engine hands remote components the URN of a resource, custom resources its ID.
        fixed.object.CopyFrom(_struct_without_refs(request.object, prefer_id=not request.remote))
        deps = list(request.dependencies)
        for pdeps in request.propertyDependencies.values():
            deps.extend(u for u in pdeps.urns if u not in deps)
        self._local.request = _Request(
            urn=self.make_urn(request.parent, request.type, request.name),
            parent=request.parent or None,
            remote=bool(request.remote),
            dependencies=deps,
            options={
                "replaceOnChanges": list(request.replaceOnChanges),
                "deleteBeforeReplace": bool(request.deleteBeforeReplace),
                "ignoreChanges": list(request.ignoreChanges),
                "protect": bool(request.protect),
            },
        )
        try:
            return super().RegisterResource(fixed)
        finally:
            self._local.request = None

    def ReadResource(self, request):
        self._track_thread_loop()
        fixed = resource_pb2.ReadResourceRequest()
        fixed.CopyFrom(request)
        fixed.properties.CopyFrom(_struct_without_refs(request.properties, True))
        self._local.request = _Request(
            urn=self.make_urn(request.parent, request.type, request.name),
            parent=request.parent or None,
            remote=False,
            dependencies=list(request.dependencies),
            read_id=request.id or None,
        )
        try:
            return super().ReadResource(fixed)
        finally:
            self._local.request = None

    def Invoke(self, request):
        self._track_thread_loop()
        fixed = resource_pb2.ResourceInvokeRequest()
        fixed.CopyFrom(request)
        fixed.args.CopyFrom(_struct_without_refs(request.args, prefer_id=False))
        return super().Invoke(fixed)

    def Call(self, request):
        self._track_thread_loop()
        args = rpc.deserialize_properties(_struct_without_refs(request.args, prefer_id=False))
        result = self.mocks.call(
            sdk_mocks.MockCallArgs(token=request.tok, args=args, provider=request.provider)
        )
        if isinstance(result, dict):
            ret, failures = result, None
        else:
            ret, raw_failures = result
            failures = [
                provider_pb2.CheckFailure(property=p, reason=r) for p, r in (raw_failures or [])
            ]
        ret_proto = sync_await(rpc.serialize_properties(ret, {}))
        return provider_pb2.CallResponse(**{"return": ret_proto, "failures": failures})

    def RegisterResourceOutputs(self, request):
        if self.stack_urn is not None and request.urn == self.stack_urn:
            self._track_thread_loop()
            self.stack_outputs = rpc.deserialize_properties(
                _struct_without_refs(request.outputs, prefer_id=False)
            )
        return super().RegisterResourceOutputs(request)
