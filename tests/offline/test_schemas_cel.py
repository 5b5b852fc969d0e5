"""The CRDs' CEL rules evaluated by a CEL library (trainstack.offline.schemas.cel): rules nobody
wrote Python for are checked, and the Kubernetes library functions behave like upstream's."""

from __future__ import annotations

import pytest
import yaml
from celpy import json_to_cel

from trainstack.offline import crds
from trainstack.offline.schemas import cel, cel_rule_coverage, validate_object

# --------------------------------------------------------------------------- a synthetic CRD


def _widget_crd() -> dict:
    """A tiny CRD whose rules no earlier version of this module knew by their text."""
    spec_schema = {
        "type": "object",
        "x-kubernetes-validations": [
            {
                "rule": "self.size <= self.maxSize",
                "messageExpression": "'size ' + string(self.size) + ' exceeds maxSize'",
            },
            {"rule": "self.owner.lowerAscii() == self.owner", "message": "owner must be lowercase"},
            {"rule": "self.size == oldSelf.size", "message": "size is immutable"},
            {
                "rule": "quantity(self.memory).isLessThan(quantity('1Gi'))",
                "message": "memory below 1Gi",
            },
        ],
        "properties": {
            "size": {"type": "integer"},
            "maxSize": {"type": "integer", "default": 10},
            "owner": {"type": "string"},
            "memory": {"type": "string"},
            "ports": {
                "type": "array",
                "items": {
                    "type": "object",
                    "x-kubernetes-validations": [
                        {
                            "rule": "self.name.split('-', 2)[0] in ['http', 'grpc']",
                            "message": "port name must start with http- or grpc-",
                        }
                    ],
                    "properties": {"name": {"type": "string"}},
                },
            },
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


@pytest.fixture
def widget_crds(monkeypatch, tmp_path):
    (tmp_path / "example.com_widgets.yaml").write_text(yaml.safe_dump(_widget_crd()))
    monkeypatch.setenv(crds.ENV_CRD_DIR, str(tmp_path))


def widget(**spec) -> dict:
    base = {"size": 3, "owner": "ml-team", "memory": "512Mi", "ports": [{"name": "http-api"}]}
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {**base, **spec},
    }


def test_a_valid_widget_passes(widget_crds):
    assert validate_object(widget()) == []


def test_a_rule_no_one_wrote_python_for_is_evaluated(widget_crds):
    errors = validate_object(widget(owner="ML-Team"))
    assert errors == ["Widget/w: spec: owner must be lowercase (x-kubernetes-validations rule)"]


def test_message_expression_is_the_message_and_self_is_defaulted_first(widget_crds):
    # maxSize is defaulted to 10 before the rule runs (the API server defaults on create).
    errors = validate_object(widget(size=12))
    assert errors == ["Widget/w: spec: size 12 exceeds maxSize (x-kubernetes-validations rule)"]


def test_a_rule_on_list_items_runs_per_item_with_self_the_item(widget_crds):
    errors = validate_object(widget(ports=[{"name": "http-api"}, {"name": "metrics"}]))
    assert errors == [
        "Widget/w: spec.ports[1]: port name must start with http- or grpc- "
        "(x-kubernetes-validations rule)"
    ]


def test_transition_and_unregistered_function_rules_are_not_run_and_reported(widget_crds):
    # size == oldSelf.size would fail without an oldSelf; quantity() is not registered here.
    assert validate_object(widget(memory="4Gi")) == []
    coverage = cel_rule_coverage("example.com/v1", "Widget")
    assert coverage["transition"] == ["spec: self.size == oldSelf.size"]
    assert coverage["unchecked"] == ["spec: quantity(self.memory).isLessThan(quantity('1Gi'))"]
    assert len(coverage["checked"]) == 3


def test_a_rule_that_cannot_evaluate_fails_like_in_the_api_server(widget_crds):
    obj = widget()
    del obj["spec"]["owner"]  # self.owner: no such key
    errors = validate_object(obj)
    assert len(errors) == 1
    assert errors[0].startswith("Widget/w: spec: owner must be lowercase (x-kubernetes-validations")


@pytest.mark.usefixtures("pinned_crds")
def test_every_rule_of_the_pinned_crds_compiles():
    for api_version, kind in (
        ("karpenter.sh/v1", "NodePool"),
        ("karpenter.k8s.aws/v1", "EC2NodeClass"),
        ("ray.io/v1", "RayCluster"),
        ("ray.io/v1", "RayJob"),
        ("kubeflow.org/v1", "PyTorchJob"),
    ):
        assert cel_rule_coverage(api_version, kind)["unchecked"] == [], kind


# --------------------------------------------------------------------------- library functions


def evaluate(expression: str, self=None):
    program = cel.compile_rule(expression)
    assert not isinstance(program, str), program
    return program.evaluate({"self": json_to_cel(self)})


# Examples from the upstream library docs where they match the code (kubernetes v1.34
# staging/src/k8s.io/apiserver/pkg/cel/library/regex.go; cel-go v0.26.0 ext/strings.go); where
# a doc example disagrees with Go's regexp (e.g. "abc 123".find('[0-9]*') is '' in Go: the
# empty match at 0 is leftmost), the expectation is Go's.
@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'abc'.find('b.')", "bc"),
        ("'abc 123'.find('[0-9]+')", "123"),
        ("'abc 123'.find('[0-9]*')", ""),
        ("'abc 123'.find('xyz')", ""),
        ("'karpenter.sh/nodepool'.find('^([^/]+)')", "karpenter.sh"),
        ("'123 abc 456'.findAll('[0-9]+')", ["123", "456"]),
        ("'123 abc 456'.findAll('[0-9]+', 1)", ["123"]),
        ("'123 abc 456'.findAll('xyz')", []),
        # Go drops an empty match abutting the previous match (after '123'), keeps the others.
        ("'123 ab'.findAll('[0-9]*')", ["123", "", "", ""]),
        ("'hello hello hello'.split(' ')", ["hello", "hello", "hello"]),
        ("'hello hello hello'.split(' ', 0)", []),
        ("'hello hello hello'.split(' ', 1)", ["hello hello hello"]),
        ("'hello hello hello'.split(' ', 2)", ["hello", "hello hello"]),
        ("'hello hello hello'.split(' ', -1)", ["hello", "hello", "hello"]),
        ("'abc'.split('')", ["a", "b", "c"]),
        ("'al2023@latest'.split('@')[1]", "latest"),
        ("['a', 'b', 'c'].join()", "abc"),
        ("['a', 'b', 'c'].join('-')", "a-b-c"),
        ("'TacoCÆt Xii'.lowerAscii()", "tacocÆt xii"),
        ("'TacoCÆt Xii'.upperAscii()", "TACOCÆT XII"),
    ],
)
def test_kubernetes_library_functions_behave_like_upstream(expression, expected):
    assert evaluate(expression) == expected


def test_an_illegal_regex_is_an_evaluation_error():
    with pytest.raises(ValueError, match="Illegal regex"):
        cel.K8S_FUNCTIONS["find"]("abc", "(")


def test_a_function_kubernetes_lacks_is_not_compiled():
    assert "quantity" in cel.compile_rule("quantity('1Gi').isGreaterThan(quantity('1'))")
    assert "does not parse" in cel.compile_rule("self.all(x, ")
