"""Offline schema validation of rendered Kubernetes objects: what validate_object and
validate_all (trainstack/offline/schemas/__init__.py) accept, report and leave untouched."""

from __future__ import annotations

import copy

import pytest
from schemas_support import (
    _assert_error,
    core_objects,
    deployment,
    ec2nodeclass,
    needs_crds,
    nodepool,
    pytorchjob,
    rayjob,
)

from trainstack.offline.schemas import (
    validate_all,
    validate_object,
)

# --------------------------------------------------------------------------- valid objects


@needs_crds
@pytest.mark.parametrize(
    "make", [nodepool, ec2nodeclass, pytorchjob, rayjob, deployment], ids=lambda f: f.__name__
)
def test_valid_objects_pass(make):
    assert validate_object(make()) == []


@needs_crds
def test_input_is_not_mutated():
    obj = nodepool()
    del obj["spec"]["disruption"]
    before = copy.deepcopy(obj)
    validate_object(obj)
    assert obj == before


@needs_crds
def test_nulls_are_treated_as_unset():
    obj = deployment()
    obj["spec"]["strategy"] = {"rollingUpdate": {"maxSurge": None}}
    assert validate_object(obj) == []
    obj = nodepool()
    obj["spec"]["weight"] = None
    obj["spec"]["disruption"] = None  # pruned, then defaulted like the API server does
    assert validate_object(obj) == []


# --------------------------------------------------------------------------- dispatch


@needs_crds
def test_unknown_kind_is_an_error():
    errors = validate_object(
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    )
    _assert_error(errors, "Widget/w: kind:", "no schema")
    errors = validate_object({"apiVersion": "v1", "kind": "Pdo", "metadata": {"name": "p"}})
    _assert_error(errors, "Pdo/p: kind:", "no schema")
    # A real CRD group but a version it does not serve.
    errors = validate_object(
        {"apiVersion": "karpenter.sh/v1beta1", "kind": "NodePool", "metadata": {"name": "x"}}
    )
    _assert_error(errors, "NodePool/x: apiVersion:", "does not serve karpenter.sh/v1beta1")


def test_missing_api_version_and_kind():
    errors = validate_object({"metadata": {"name": "x"}})
    _assert_error(errors, "apiVersion: required field is missing")
    _assert_error(errors, "kind: required field is missing")


@needs_crds
def test_validate_all_reports_only_invalid_objects():
    bad = nodepool()
    bad["spec"]["limit"] = {}
    result = validate_all([*core_objects(), ec2nodeclass(), bad])
    assert list(result) == ["NodePool/gpu-p5"]
    assert all(e.startswith("NodePool/gpu-p5: ") for e in result["NodePool/gpu-p5"])
