"""The CRDs' CEL rules evaluated by a CEL library (trainstack.offline.schemas.cel): rules nobody
wrote Python for are checked, and the Kubernetes library functions behave like upstream's."""

from __future__ import annotations

import pytest
import yaml
from celpy import json_to_cel
from schemas_support import _assert_error, ec2nodeclass, needs_crds, nodepool

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


# --------------------------------------------------------------------------- CEL re-checks


@needs_crds
def test_ec2nodeclass_alias_and_id_in_one_term():
    obj = ec2nodeclass()
    obj["spec"]["amiSelectorTerms"] = [{"alias": "al2023@latest", "id": "ami-0123456789abcdef0"}]
    errors = validate_object(obj)
    _assert_error(
        errors, "EC2NodeClass/gpu", "spec.amiSelectorTerms:", "'alias' is mutually exclusive"
    )


@needs_crds
def test_ec2nodeclass_role_and_instance_profile():
    obj = ec2nodeclass()
    obj["spec"]["instanceProfile"] = "trainstack-node"
    _assert_error(validate_object(obj), "spec:", "exactly one of ['role', 'instanceProfile']")
    del obj["spec"]["instanceProfile"], obj["spec"]["role"]
    _assert_error(validate_object(obj), "spec:", "exactly one of ['role', 'instanceProfile']")


@needs_crds
def test_ec2nodeclass_alias_rules():
    obj = ec2nodeclass()
    obj["spec"]["amiSelectorTerms"] = [{"alias": "windows2022@v20240101"}]
    _assert_error(
        validate_object(obj), "spec.amiSelectorTerms[0].alias:", "only specify version 'latest'"
    )
    obj["spec"]["amiSelectorTerms"] = [{"alias": "ubuntu@latest"}]
    _assert_error(
        validate_object(obj), "spec.amiSelectorTerms[0].alias:", "family is not supported"
    )
    obj["spec"]["amiSelectorTerms"] = [{"alias": "al2023@latest"}]
    obj["spec"]["amiFamily"] = "Bottlerocket"
    _assert_error(validate_object(obj), "spec:", "amiFamily must be 'AL2023' or 'Custom'")
    obj["spec"]["amiSelectorTerms"] = [{"tags": {"ami": "trainer"}}]
    del obj["spec"]["amiFamily"]
    _assert_error(validate_object(obj), "spec:", "must specify amiFamily")


@needs_crds
def test_ec2nodeclass_selector_terms_need_tags_or_id():
    obj = ec2nodeclass()
    obj["spec"]["subnetSelectorTerms"] = [{"tags": {"karpenter.sh/discovery": ""}}, {}]
    errors = validate_object(obj)
    _assert_error(
        errors, "spec.subnetSelectorTerms:", "expected at least one, got none, ['tags', 'id']"
    )
    _assert_error(errors, "spec.subnetSelectorTerms[0].tags:", "empty tag keys or values")
    obj = ec2nodeclass()
    obj["spec"]["securityGroupSelectorTerms"] = []
    _assert_error(validate_object(obj), "spec.securityGroupSelectorTerms:", "cannot be empty")


@needs_crds
def test_ec2nodeclass_restricted_tags_and_root_volumes():
    obj = ec2nodeclass()
    obj["spec"]["tags"]["kubernetes.io/cluster/trainstack"] = "owned"
    obj["spec"]["blockDeviceMappings"].append(
        {"deviceName": "/dev/xvdb", "rootVolume": True, "ebs": {"volumeSize": "100Gi"}}
    )
    errors = validate_object(obj)
    _assert_error(errors, "spec.tags:", "restricted tag matching kubernetes.io/cluster/")
    _assert_error(
        errors, "spec.blockDeviceMappings:", "only one blockDeviceMappings with rootVolume"
    )


@needs_crds
def test_nodepool_requirement_on_restricted_label_domain():
    obj = nodepool()
    obj["spec"]["template"]["spec"]["requirements"].append(
        {"key": "karpenter.sh/instance-family", "operator": "In", "values": ["p5"]}
    )
    obj["spec"]["template"]["spec"]["requirements"].append(
        {"key": "karpenter.k8s.aws/instance-id", "operator": "Exists"}
    )
    errors = validate_object(obj)
    _assert_error(
        errors,
        "NodePool/gpu-p5",
        "spec.template.spec.requirements[3].key:",
        'label domain "karpenter.sh" is restricted',
    )
    _assert_error(
        errors,
        "spec.template.spec.requirements[4].key:",
        'label domain "karpenter.k8s.aws" is restricted',
    )


@needs_crds
def test_nodepool_template_labels_restricted():
    obj = nodepool()
    obj["spec"]["template"]["metadata"]["labels"]["kubernetes.io/hostname"] = "node-1"
    obj["spec"]["template"]["metadata"]["labels"]["team.karpenter.sh/owner"] = "ml"
    errors = validate_object(obj)
    _assert_error(
        errors, "spec.template.metadata.labels:", 'label "kubernetes.io/hostname" is restricted'
    )
    _assert_error(
        errors, "spec.template.metadata.labels:", 'label domain "karpenter.sh" is restricted'
    )
    obj = nodepool()
    obj["spec"]["template"]["metadata"]["labels"]["karpenter.k8s.aws/instance-family"] = "p5"
    assert validate_object(obj) == []  # on the CRD's allow-list


@needs_crds
def test_nodepool_requirement_operator_rules():
    obj = nodepool()
    reqs = obj["spec"]["template"]["spec"]["requirements"]
    reqs[0]["values"] = []
    reqs[2]["values"] = ["1", "2"]
    reqs[1]["minValues"] = 3
    errors = validate_object(obj)
    _assert_error(
        errors, "spec.template.spec.requirements:", "operator 'In' must have a value defined"
    )
    _assert_error(
        errors, "spec.template.spec.requirements:", "must have a single positive integer value"
    )
    _assert_error(errors, "spec.template.spec.requirements:", "at least that many values")


@needs_crds
def test_nodepool_node_class_ref_and_static_pool():
    obj = nodepool()
    obj["spec"]["template"]["spec"]["nodeClassRef"]["name"] = ""
    obj["spec"]["replicas"] = 2  # static pool: weight and cpu limits are not allowed
    errors = validate_object(obj)
    _assert_error(errors, "spec.template.spec.nodeClassRef.name:", "name may not be empty")
    _assert_error(errors, "spec:", "'weight' is not supported on static NodePools")
    _assert_error(errors, "spec:", "only 'limits.nodes' is supported")


@needs_crds
def test_karpenter_cel_rules_all_rechecked():
    for api_version, kind in (
        ("karpenter.sh/v1", "NodePool"),
        ("karpenter.k8s.aws/v1", "EC2NodeClass"),
    ):
        coverage = cel_rule_coverage(api_version, kind)
        assert coverage["unchecked"] == [], coverage["unchecked"]
        assert coverage["checked"]
        assert all("oldSelf" in r for r in coverage["transition"])
