"""Custom resources against their pinned CRDs (trainstack/offline/schemas/crd.py): defaults,
int-or-string, list-map keys, and where the CRD directory is found."""

from __future__ import annotations

import pytest
from schemas_support import _assert_error, deployment, needs_crds, nodepool, pytorchjob

from trainstack.offline.schemas import (
    SchemaUnavailable,
    crd_dir,
    validate_object,
)


@needs_crds
def test_nodepool_minimal_gets_defaults_before_cel():
    obj = nodepool()
    del obj["spec"]["disruption"], obj["spec"]["limits"], obj["spec"]["weight"]
    assert validate_object(obj) == []


@needs_crds
def test_int_or_string_accepts_both():
    obj = nodepool()
    obj["spec"]["limits"] = {"cpu": 1000, "memory": "4000Gi"}
    assert validate_object(obj) == []
    obj["spec"]["limits"] = {"cpu": ["1000"]}
    _assert_error(validate_object(obj), "spec.limits.cpu:")


@needs_crds
def test_list_map_duplicates_are_caught():
    obj = pytorchjob()
    ports = obj["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0][
        "ports"
    ]
    ports.append({"containerPort": 23456, "name": "other"})
    errors = validate_object(obj)
    _assert_error(errors, "containers[0].ports[1]:", "duplicate entry")


# --------------------------------------------------------------------------- crd_dir


def test_crd_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("TRAINSTACK_CRD_DIR", str(tmp_path))
    assert crd_dir() == tmp_path


def test_crd_dir_env_missing_raises_with_hint(monkeypatch, tmp_path):
    monkeypatch.setenv("TRAINSTACK_CRD_DIR", str(tmp_path / "nope"))
    with pytest.raises(SchemaUnavailable, match="make crds") as info:
        crd_dir()
    assert "TRAINSTACK_CRD_DIR" in str(info.value)


def test_crd_dir_is_the_user_cache_without_the_env(monkeypatch, tmp_path):
    monkeypatch.delenv("TRAINSTACK_CRD_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = tmp_path / "trainstack" / "crds"
    with pytest.raises(SchemaUnavailable, match="make crds") as info:
        crd_dir()
    assert str(cache) in str(info.value)
    cache.mkdir(parents=True)
    assert crd_dir() == cache


def test_custom_kind_without_crds_raises(monkeypatch, tmp_path):
    monkeypatch.setenv("TRAINSTACK_CRD_DIR", str(tmp_path / "missing"))
    with pytest.raises(SchemaUnavailable):
        validate_object(nodepool())
    # Built-in kinds do not need the CRD directory.
    assert validate_object(deployment()) == []


def test_a_pinned_kind_missing_from_the_directory_is_unavailable_not_unknown(monkeypatch, tmp_path):
    # A CRD directory that lacks the NodePool file: validating a NodePool cannot be done here
    # (SchemaUnavailable, which the suite turns into a skip), while a kind nobody pins is still
    # an error of the object.
    monkeypatch.setenv("TRAINSTACK_CRD_DIR", str(tmp_path))
    with pytest.raises(SchemaUnavailable, match="NodePool: its pinned CRD is not in"):
        validate_object(nodepool())
    errors = validate_object(
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    )
    _assert_error(errors, "Widget/w: kind:", "no schema")
