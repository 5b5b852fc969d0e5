"""Schema mistakes in custom resources reported as path and message, with a hint for a
misspelt or misplaced field (trainstack/offline/schemas/errors.py)."""

from __future__ import annotations

from schemas_support import _assert_error, needs_crds, nodepool, pytorchjob, rayjob

from trainstack.offline.schemas import (
    validate_object,
)

# --------------------------------------------------------------------------- schema mistakes


@needs_crds
def test_nodepool_limit_instead_of_limits():
    obj = nodepool()
    obj["spec"]["limit"] = obj["spec"].pop("limits")
    errors = validate_object(obj)
    _assert_error(
        errors, "NodePool/gpu-p5", "spec.limit:", 'unknown field "limit"', 'did you mean "limits"'
    )


@needs_crds
def test_nodepool_consolidation_policy_at_wrong_level():
    obj = nodepool()
    obj["spec"]["consolidationPolicy"] = obj["spec"]["disruption"].pop("consolidationPolicy")
    errors = validate_object(obj)
    _assert_error(
        errors,
        "NodePool/gpu-p5",
        "spec.consolidationPolicy:",
        "unknown field",
        'belongs under "disruption"',
    )


@needs_crds
def test_nodepool_bad_enum_and_pattern():
    obj = nodepool()
    obj["spec"]["disruption"]["consolidationPolicy"] = "WhenIdle"
    obj["spec"]["template"]["spec"]["expireAfter"] = "30 days"
    errors = validate_object(obj)
    _assert_error(errors, "spec.disruption.consolidationPolicy:", "WhenIdle")
    _assert_error(errors, "spec.template.spec.expireAfter:", "does not match")


@needs_crds
def test_pytorchjob_replicas_wrong_type():
    obj = pytorchjob()
    obj["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] = "2"
    errors = validate_object(obj)
    _assert_error(
        errors, "PyTorchJob/llama-fsdp", "spec.pytorchReplicaSpecs.Worker.replicas:", "integer"
    )


@needs_crds
def test_pytorchjob_unknown_field_in_embedded_pod_spec():
    obj = pytorchjob()
    obj["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0][
        "resource"
    ] = {}
    errors = validate_object(obj)
    _assert_error(
        errors,
        "spec.pytorchReplicaSpecs.Master.template.spec.containers[0].resource:",
        'unknown field "resource"',
        'did you mean "resources"',
    )


@needs_crds
def test_rayjob_missing_required_field():
    obj = rayjob()
    del obj["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["groupName"]
    errors = validate_object(obj)
    _assert_error(
        errors,
        "RayJob/ray-sweep",
        "spec.rayClusterSpec.workerGroupSpecs[0].groupName:",
        "required field is missing",
    )
