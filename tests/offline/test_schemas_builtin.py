"""Built-in kinds validated against the kubernetes-validate schemas of the cluster version
(trainstack/offline/schemas/builtin.py)."""

from __future__ import annotations

import pytest
from schemas_support import _assert_error, core_objects, deployment

from trainstack.offline.schemas import (
    resolve_kubernetes_version,
    validate_all,
    validate_object,
)


def test_valid_core_objects_pass():
    assert validate_all(core_objects()) == {}


def test_unknown_field_in_core_deployment_spec():
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    errors = validate_object(obj)
    _assert_error(
        errors,
        "Deployment/dashboard",
        "spec.template.spec.containers[0].imagePullPolicyy:",
        "unknown field",
    )


def test_unknown_field_in_core_pod_spec():
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "debug"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], "restartpolicy": "Never"},
    }
    errors = validate_object(pod)
    _assert_error(errors, "Pod/debug", "spec.restartpolicy:", 'unknown field "restartpolicy"')


def test_core_wrong_type_names_path():
    obj = deployment()
    obj["spec"]["replicas"] = "1"
    _assert_error(validate_object(obj), "Deployment/dashboard", "spec.replicas:")


def test_kubernetes_version_mapping():
    assert resolve_kubernetes_version("1.34") == "1.34.0"
    assert resolve_kubernetes_version("v1.34.2") == "1.34.0"
    assert resolve_kubernetes_version("1.99").startswith("1.")  # newest shipped
    assert resolve_kubernetes_version("1.10") == resolve_kubernetes_version("1.0")  # oldest shipped
    with pytest.raises(ValueError):
        resolve_kubernetes_version("latest")
    assert validate_object(deployment(), kubernetes_version="1.31") == []
