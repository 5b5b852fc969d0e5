"""Offline mock engine shared by the tests and the ``plan`` command (docs/offline-testing.md).

``engine.run_program`` runs the Pulumi program under the SDK's mocks (``sdk``: the pinned SDK,
``monitor``: the mock monitor, ``fakes/``: what it answers) and returns a ``captured.OfflinePlan``;
``secrets`` finds and masks secret values; ``stack_config`` reads ``Pulumi.<stack>.yaml``;
``plan`` and ``plan_report`` are the plan command; ``schemas`` and ``crds`` validate its objects.

Nothing is imported here: the engine loads the Pulumi SDK (~0.15 s), and every ``trainstack``
command imports ``offline.crds``, so callers import the module they need.
"""
