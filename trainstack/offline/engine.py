"""Offline mock engine: run the Pulumi program under the Python SDK's mocks and capture the plan.

One engine serves the tests and the offline ``plan`` command. ``docs/offline-testing.md``
explains the traps it steps around; where each is handled:

1. component outputs that are resource references (``eks.Cluster.eks_cluster``) are answered with
   references to fake resources registered in the monitor (``fakes/eks.py``), so
   ``cluster.eks_cluster.name`` works;
2. resource references inside a registration request are replaced (by URN for remote components,
   by ID for custom resources, as the engine does) before the stock monitor deserializes them
   (``monitor.py``);
3. method calls on remote components (``cluster.get_kubeconfig()``) are routed to ``Mocks.call``
   (``monitor.py``, answered in ``fakes/invokes.py``);
4. components never echo their inputs as outputs, custom resources do (``fakes/resources.py``);
5. unknown invokes raise instead of silently returning ``{}`` (``fakes/invokes.py``);
6. the SDK version is checked at import, because private SDK modules are used (``sdk.py``).
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Callable, Sequence
from typing import Any

from .captured import Captured, OfflinePlan
from .fakes import eks, invokes
from .fakes.resources import custom_state, plan_inputs
from .fakes.values import DEFAULT_REGION
from .monitor import OfflineMonitor, strip_provider_id
from .sdk import OfflineHarnessError, pulumi, run_in_stack, settings
from .sdk import mocks as sdk_mocks
from .secrets import contains_secrets, unwrap_secrets

__all__ = ["run_program"]


class _OfflineMocks(sdk_mocks.Mocks):
    """Records each registration and answers it with the fakes of ``fakes/``."""

    def __init__(self, *, config: dict[str, str], az_names: Sequence[str] | None):
        self.region = config.get("aws:region") or DEFAULT_REGION
        self.az_names = list(az_names) if az_names else [f"{self.region}{c}" for c in "abcd"]
        self.monitor: OfflineMonitor | None = None
        self.captured: list[Captured] = []
        self.plugin_resources: list[Captured] = []  # what remote components' plugins create
        self._lock = threading.Lock()
        self.clusters: dict[str, eks.ClusterFacts] = {}  # eks:index:Cluster URN -> facts for calls

    def new_resource(self, args: sdk_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        assert self.monitor is not None
        req = self.monitor.current_request()
        urn = req.urn if req else self.monitor.make_urn("", args.typ, args.name)
        read_id = req.read_id if req else None
        custom = bool(args.custom) or read_id is not None  # reads (`.get()`) are custom
        remote = bool(req and req.remote)
        captured = Captured(
            type=args.typ,
            name=args.name,
            urn=urn,
            parent=req.parent if req else None,
            provider=strip_provider_id(args.provider or ""),
            custom=custom,
            inputs=plan_inputs(args.typ, args.inputs),
            remote=remote,
            read_id=read_id,
            dependencies=list(req.dependencies) if req else [],
            options=dict(req.options) if req else {},
        )
        with self._lock:
            self.captured.append(captured)

        if custom:
            id_, state = custom_state(args, urn, self.region, self.az_names)
        elif remote:
            id_, state = None, self._component_outputs(args, urn)
        else:
            id_, state = None, {}  # local ComponentResource: the program registers its outputs
        captured.id = id_
        captured.state = copy.deepcopy(state)
        return id_ or "", state

    def _component_outputs(self, args: sdk_mocks.MockResourceArgs, urn: str) -> dict:
        assert self.monitor is not None
        inputs = unwrap_secrets(args.inputs)
        if args.typ == "eks:index:Cluster":
            outputs, facts = eks.cluster_outputs(self.monitor, urn, args.name, inputs, self.region)
            with self._lock:
                self.clusters[urn] = facts
            return outputs
        if args.typ == "eks:index:ManagedNodeGroup":
            ref, child = eks.managed_node_group(
                self.monitor, urn, args.name, inputs, self.region, self.clusters, args.transforms
            )
            with self._lock:
                self.plugin_resources.append(child)
            return {"nodeGroup": ref}
        # Other remote components (helm v4 Chart, yaml/v2, kustomize/v2, awsx ...): no outputs.
        # Never echo inputs (trap 4 above).
        return {}

    def call(self, args: sdk_mocks.MockCallArgs):
        return invokes.answer(
            args.token,
            args.args,
            stack_region=self.region,
            az_names=self.az_names,
            clusters=self.clusters,
        )


def run_program(
    program: Callable[[], Any],
    *,
    config: dict[str, str],
    secret_keys: Sequence[str] = (),
    project: str = "trainstack",
    stack: str = "dev",
    az_names: Sequence[str] | None = None,
) -> OfflinePlan:
    """Run ``program`` under the mock engine and return every registration it made.

    The program runs inside a fresh root stack on a fresh event loop, exactly as the language
    host runs ``__main__.py`` (so ``pulumi.export`` and ``pulumi.run`` work). An exception raised
    by the program propagates unchanged. Global SDK state is reset afterwards.
    """
    if not callable(program):
        raise TypeError("run_program expects a zero-argument callable")
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise OfflineHarnessError("run_program cannot be called from inside a running event loop")

    mocks = _OfflineMocks(config=config, az_names=az_names)
    monitor = OfflineMonitor(mocks)
    mocks.monitor = monitor

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        # Fresh settings (ROOT = None, new RPC manager and output set), then the mock monitor.
        pulumi.runtime.reset_options(project=project, stack=stack, preview=False)
        features = set(monitor.GetDeploymentInfo(None).supportedFeatures)
        settings.configure(
            sdk_mocks.MockSettings(
                monitor=monitor,
                monitor_features=features,
                engine=sdk_mocks.MockEngine(None),
                project=project,
                stack=stack,
                dry_run=False,
                organization="organization",
                callbacks=None,
            )
        )
        pulumi.runtime.set_all_config(dict(config), list(secret_keys))

        loop.run_until_complete(run_in_stack(program))

        raw_outputs = monitor.stack_outputs or {}
        secret_outputs = {k for k, v in raw_outputs.items() if contains_secrets(v)}
        outputs = unwrap_secrets(raw_outputs)
        return OfflinePlan(
            resources=list(mocks.captured),
            outputs=outputs,
            secret_outputs=secret_outputs,
            stack_urn=monitor.stack_urn or "",
            plugin_resources=list(mocks.plugin_resources),
        )
    finally:
        _close_loop(loop)
        monitor.close_thread_loops(keep=loop)
        pulumi.runtime.reset_options()
        pulumi.runtime.set_all_config({}, [])


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
