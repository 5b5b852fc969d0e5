"""Object metadata checked as the API server does (trainstack/offline/schemas/metadata.py):
names, labels, unknown fields."""

from __future__ import annotations

import pytest
from schemas_support import _assert_error, core_objects, ec2nodeclass, needs_crds, nodepool

from trainstack.offline.schemas import (
    validate_object,
)

# --------------------------------------------------------------------------- metadata


@pytest.mark.parametrize(
    "make", [lambda: core_objects()[1], nodepool], ids=["ConfigMap", "NodePool"]
)
def test_bad_metadata_name(make, request):
    if make is nodepool:
        request.getfixturevalue("pinned_crds")
    obj = make()
    obj["metadata"]["name"] = "Trainstack_GPU"
    errors = validate_object(obj)
    _assert_error(errors, "/Trainstack_GPU: metadata.name:", "RFC 1123 subdomain")


def test_missing_metadata_name():
    errors = validate_object({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})
    _assert_error(errors, "ConfigMap/<no name>: metadata.name: required field is missing")


@needs_crds
def test_bad_labels_and_unknown_metadata_field_on_custom_resource():
    obj = ec2nodeclass()
    obj["metadata"]["labels"] = {"team": "ml/infra", "bad key!": "x", "replicas": 2}
    obj["metadata"]["lables"] = {}
    errors = validate_object(obj)
    _assert_error(errors, "metadata.labels.team:", "invalid label value")
    _assert_error(errors, 'metadata.labels["bad key!"]:', "invalid key")
    _assert_error(errors, "metadata.labels.replicas:", "must be a string")
    _assert_error(errors, "metadata.lables:", 'unknown field "lables"', 'did you mean "labels"')


def test_namespace_name_must_be_dns_label():
    errors = validate_object(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml.training"}}
    )
    _assert_error(errors, "Namespace/ml.training: metadata.name:", "RFC 1123 label")


def test_rbac_names_may_contain_colons():
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "trainstack:reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
    }
    assert validate_object(role) == []
