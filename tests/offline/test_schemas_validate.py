"""Offline schema validation of rendered Kubernetes objects (trainstack.offline.schemas)."""

from __future__ import annotations

import copy

import pytest

from trainstack.offline.schemas import (
    SchemaUnavailable,
    cel_rule_coverage,
    crd_dir,
    resolve_kubernetes_version,
    validate_all,
    validate_object,
)

# Tests of custom resources need the pinned CRDs (see the pinned_crds fixture); the built-in
# kinds and the directory lookup do not.
needs_crds = pytest.mark.usefixtures("pinned_crds")


# --------------------------------------------------------------------------- fixtures


def nodepool() -> dict:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "gpu-p5", "labels": {"app.kubernetes.io/managed-by": "pulumi"}},
        "spec": {
            "template": {
                "metadata": {"labels": {"trainstack.io/pool": "gpu"}},
                "spec": {
                    "nodeClassRef": {
                        "group": "karpenter.k8s.aws",
                        "kind": "EC2NodeClass",
                        "name": "gpu",
                    },
                    "requirements": [
                        {
                            "key": "karpenter.sh/capacity-type",
                            "operator": "In",
                            "values": ["on-demand"],
                        },
                        {
                            "key": "node.kubernetes.io/instance-type",
                            "operator": "In",
                            "values": ["p5.48xlarge", "p4d.24xlarge"],
                        },
                        {
                            "key": "karpenter.k8s.aws/instance-gpu-count",
                            "operator": "Gt",
                            "values": ["0"],
                        },
                    ],
                    "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}],
                    "expireAfter": "720h",
                },
            },
            "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "5m"},
            "limits": {"cpu": "1000", "nvidia.com/gpu": 64},  # int-or-string quantities
            "weight": 10,
        },
    }


def ec2nodeclass() -> dict:
    return {
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": "gpu"},
        "spec": {
            "amiSelectorTerms": [{"alias": "al2023@latest"}],
            "role": "trainstack-karpenter-node",
            "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "trainstack"}}],
            "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "trainstack"}}],
            "blockDeviceMappings": [
                {
                    "deviceName": "/dev/xvda",
                    "rootVolume": True,
                    "ebs": {"volumeSize": "200Gi", "volumeType": "gp3", "encrypted": True},
                },
            ],
            "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},
            "tags": {"team": "ml"},
        },
    }


def _pod_template(image: str, name: str) -> dict:
    return {
        "metadata": {"labels": {"app": "trainer"}},
        "spec": {
            "containers": [
                {
                    "name": name,
                    "image": image,
                    "command": ["torchrun", "--nproc-per-node=8", "-m", "trainer"],
                    "resources": {"limits": {"nvidia.com/gpu": 8, "vpc.amazonaws.com/efa": 4}},
                    "ports": [{"containerPort": 23456, "name": "pytorchjob-port"}],
                }
            ],
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ],
        },
    }


def pytorchjob() -> dict:
    image = "123456789012.dkr.ecr.us-west-2.amazonaws.com/trainer:1.0"
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "llama-fsdp", "namespace": "training"},
        "spec": {
            "nprocPerNode": "8",
            "runPolicy": {"cleanPodPolicy": "None", "backoffLimit": 3},
            "pytorchReplicaSpecs": {
                "Master": {
                    "replicas": 1,
                    "restartPolicy": "OnFailure",
                    "template": _pod_template(image, "pytorch"),
                },
                "Worker": {
                    "replicas": 3,
                    "restartPolicy": "OnFailure",
                    "template": _pod_template(image, "pytorch"),
                },
            },
        },
    }


def rayjob() -> dict:
    def group_template(name: str) -> dict:
        return {
            "spec": {
                "containers": [
                    {
                        "name": name,
                        "image": "rayproject/ray:2.40.0",
                        "resources": {"limits": {"cpu": "4", "memory": "16Gi"}},
                    }
                ]
            }
        }

    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": "ray-sweep", "namespace": "training"},
        "spec": {
            "entrypoint": "python sweep.py",
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": 600,
            "rayClusterSpec": {
                "rayVersion": "2.40.0",
                "headGroupSpec": {
                    "rayStartParams": {"dashboard-host": "0.0.0.0"},
                    "template": group_template("ray-head"),
                },
                "workerGroupSpecs": [
                    {
                        "groupName": "gpu",
                        "replicas": 2,
                        "minReplicas": 0,
                        "maxReplicas": 4,
                        "rayStartParams": {},
                        "template": group_template("ray-worker"),
                    }
                ],
            },
        },
    }


def core_objects() -> list[dict]:
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "training"}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "trainer-config", "namespace": "training"},
            "data": {"config.yaml": "lr: 0.001\n"},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "wandb", "namespace": "training"},
            "type": "Opaque",
            "stringData": {"api-key": "x"},
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": "trainer",
                "namespace": "training",
                "annotations": {
                    "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/trainer"
                },
            },
        },
    ]


def deployment() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "dashboard", "namespace": "training"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "dashboard"}},
            "template": {
                "metadata": {"labels": {"app": "dashboard"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.27",
                            "resources": {"requests": {"cpu": "100m"}},
                        }
                    ]
                },
            },
        },
    }


def _assert_error(errors: list[str], *fragments: str) -> None:
    assert any(all(f in e for f in fragments) for e in errors), (
        f"no error containing {fragments!r} in:\n" + "\n".join(errors)
    )


# --------------------------------------------------------------------------- valid objects


@needs_crds
@pytest.mark.parametrize(
    "make", [nodepool, ec2nodeclass, pytorchjob, rayjob, deployment], ids=lambda f: f.__name__
)
def test_valid_objects_pass(make):
    assert validate_object(make()) == []


def test_valid_core_objects_pass():
    assert validate_all(core_objects()) == {}


@needs_crds
def test_nodepool_minimal_gets_defaults_before_cel():
    obj = nodepool()
    del obj["spec"]["disruption"], obj["spec"]["limits"], obj["spec"]["weight"]
    assert validate_object(obj) == []


@needs_crds
def test_input_is_not_mutated():
    obj = nodepool()
    del obj["spec"]["disruption"]
    before = copy.deepcopy(obj)
    validate_object(obj)
    assert obj == before


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


@needs_crds
def test_nulls_are_treated_as_unset():
    obj = deployment()
    obj["spec"]["strategy"] = {"rollingUpdate": {"maxSurge": None}}
    assert validate_object(obj) == []
    obj = nodepool()
    obj["spec"]["weight"] = None
    obj["spec"]["disruption"] = None  # pruned, then defaulted like the API server does
    assert validate_object(obj) == []


@needs_crds
def test_int_or_string_accepts_both():
    obj = nodepool()
    obj["spec"]["limits"] = {"cpu": 1000, "memory": "4000Gi"}
    assert validate_object(obj) == []
    obj["spec"]["limits"] = {"cpu": ["1000"]}
    _assert_error(validate_object(obj), "spec.limits.cpu:")


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


@needs_crds
def test_list_map_duplicates_are_caught():
    obj = pytorchjob()
    ports = obj["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0][
        "ports"
    ]
    ports.append({"containerPort": 23456, "name": "other"})
    errors = validate_object(obj)
    _assert_error(errors, "containers[0].ports[1]:", "duplicate entry")


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


def test_kubernetes_version_mapping():
    assert resolve_kubernetes_version("1.34") == "1.34.0"
    assert resolve_kubernetes_version("v1.34.2") == "1.34.0"
    assert resolve_kubernetes_version("1.99").startswith("1.")  # newest shipped
    assert resolve_kubernetes_version("1.10") == resolve_kubernetes_version("1.0")  # oldest shipped
    with pytest.raises(ValueError):
        resolve_kubernetes_version("latest")
    assert validate_object(deployment(), kubernetes_version="1.31") == []


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
