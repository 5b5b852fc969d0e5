"""The training operator under the jobs namespace's Pod Security "restricted" level.

training-operator v1.9.3 adds an init container (`init-pytorch`, waiting for the master's DNS
name) to every Worker pod of a PyTorchJob that has a Master, from a template file it reads at
/etc/config/initContainer.yaml, else from a built-in one without any securityContext
(pkg/controller.v1/pytorch/initcontainer.go, pkg/config/config.go). The stack mounts its own
template there; these tests build the Worker pod as the operator would and run the policy pack's
restricted rules and the CRD over it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import support
import yaml
from job_support import pod_of, rendered

from components import operators
from policies.rules import pod_security
from trainstack.offline import schemas

ROOT = Path(__file__).resolve().parents[2]
PYTORCHJOB = "kubernetes:kubeflow.org/v1:PyTorchJob"


def operator_fills(template: str, master: str) -> list[dict]:
    """What the operator does with the template: fill its three fields, read a YAML list."""
    text = (
        template.replace("{{.InitContainerImage}}", "alpine:3.10")
        .replace("{{.MaxTries}}", "100")
        .replace("{{.MasterAddr}}", master)
    )
    return yaml.safe_load(text)


def as_the_operator_creates_it(manifest: dict, init: list[dict]) -> dict:
    job = copy.deepcopy(manifest)
    worker = pod_of(job, "Worker")
    worker["initContainers"] = worker.get("initContainers", []) + init
    return job


def restricted_violations(manifest: dict) -> list[str]:
    """The pack's Pod Security "restricted" rules (where the operator's alpine image comes
    from is not theirs to judge: the offline pack never sees operator-made containers)."""
    return [m for rule in pod_security.RULES for m in rule(PYTORCHJOB, manifest, rule.defaults())]


def test_the_stacks_init_container_passes_restricted_and_waits_for_the_master():
    job = rendered(nodes=2)
    assert set(job["spec"]["pytorchReplicaSpecs"]) == {"Master", "Worker"}
    init = operator_fills(operators.pytorch_init_container_template(), "j-master-0")
    assert [c["name"] for c in init] == ["init-pytorch"]
    assert init[0]["image"] == "alpine:3.10" and "nslookup j-master-0" in init[0]["command"][2]
    assert "seq 100" in init[0]["command"][2]
    worker_pod = as_the_operator_creates_it(job, init)
    assert restricted_violations(worker_pod) == []
    assert schemas.validate_object(worker_pod) == []


def test_without_it_the_operators_own_init_container_would_be_refused():
    # The operator's built-in container: the same name, image and wait, no securityContext.
    builtin = [
        {
            "name": "init-pytorch",
            "image": "alpine:3.10",
            "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", "nslookup j-master-0"],
        }
    ]
    found = restricted_violations(as_the_operator_creates_it(rendered(nodes=2), builtin))
    assert any("init-pytorch" in m for m in found)


def test_the_plan_mounts_the_template_where_the_operator_reads_it():
    result = support.plan("dev")  # the session's dev plan
    configmap = next(
        r
        for r in result.plan.of_type("kubernetes:core/v1:ConfigMap")
        if r.inputs["metadata"]["name"] == operators.INIT_TEMPLATE_CONFIGMAP
    )
    assert configmap.inputs["metadata"]["namespace"] == operators.TRAINING_OPERATOR_NAMESPACE
    assert configmap.inputs["data"] == {
        operators.INIT_TEMPLATE_FILE: operators.pytorch_init_container_template()
    }
    (patch,) = result.plan.of_type("kubernetes:apps/v1:DeploymentPatch")
    assert patch.inputs["metadata"] == {"name": "training-operator", "namespace": "kubeflow"}
    spec = json.loads(json.dumps(patch.inputs["spec"]))["template"]["spec"]
    (mount,) = spec["containers"][0]["volumeMounts"]
    assert (mount["mountPath"], mount["readOnly"]) == ("/etc/config", True)
    assert spec["volumes"][0]["configMap"]["name"] == operators.INIT_TEMPLATE_CONFIGMAP
