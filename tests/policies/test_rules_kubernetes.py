"""The stack rules over Kubernetes objects: each refuses its weakening of a small compliant
stack and passes the stack itself, offline (inputs) and through the policy pack's stack
validation, where CrossGuard hands them outputs (live objects, the raw EKS cluster, resource
IDs)."""

from __future__ import annotations

import copy

import pulumi_policy
import pytest
from cases_kubernetes import (
    ASSOCIATION,
    EKS,
    K8S_STACK_CASES,
    NETPOL,
    NS,
    SVC,
    _edit,
    k8s_stack,
)
from test_policies_pack import _opts, _pack_policies

from policies import STACK_BY_NAME, STACK_RULES
from policies.rules import bucket_protection, ecr, identity_bindings, messaging, network, tls

# The AWS stack rules are test_rules_aws_stack.py's; this file holds the Kubernetes ones.
AWS_STACK_RULES = {
    r.name
    for m in (bucket_protection, tls, identity_bindings, network, messaging, ecr)
    for r in m.STACK_RULES
}
K8S_STACK_RULES = {r.name for r in STACK_RULES} - AWS_STACK_RULES


@pytest.mark.parametrize(
    "name,resources,why", K8S_STACK_CASES, ids=[f"{c[0]}:{c[2]}" for c in K8S_STACK_CASES]
)
def test_stack_rule_refuses_the_weakening(name, resources, why):
    found = STACK_BY_NAME[name](resources)
    assert found and all(": " in m for _h, m in found), (why, found)
    assert STACK_BY_NAME[name](k8s_stack()) == []


def test_every_kubernetes_stack_rule_has_a_case():
    assert {c[0] for c in K8S_STACK_CASES} == K8S_STACK_RULES


def test_a_trainjob_running_its_own_runtime_unchanged_passes():
    from cases_kubernetes import _with_trainjob

    assert STACK_BY_NAME["trainjob-runs-its-runtime"](_with_trainjob()) == []


def test_the_compliant_stack_passes_every_stack_rule():
    rules = [r for r in STACK_RULES if r.name in K8S_STACK_RULES]
    assert {r.name: r(k8s_stack()) for r in rules if r(k8s_stack())} == {}


def test_interface_endpoints_lift_the_vpc_exception():
    """With AWS's APIs on VPC addresses (interface endpoints), HTTPS into the VPC is the way
    to them: the block may leave the VPC in (components/config/platform.py https_except_vpc)."""
    rule = STACK_BY_NAME["network-policy-peers-scoped"]
    dropped = next(c[1] for c in K8S_STACK_CASES if "VPC exception" in c[2])
    endpoint = (
        "urn:e",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        {"vpcEndpointType": "Interface"},
        ("e",),
    )
    assert rule([*dropped, endpoint]) == []
    gateway = (*endpoint[:2], {"vpcEndpointType": "Gateway"}, ("e",))
    assert rule([*dropped, gateway])


def test_open_ingress_needs_source_ranges_on_the_load_balancer():
    rule = STACK_BY_NAME["network-policy-peers-scoped"]
    world = _edit(
        SVC, "dev-pod", lambda p: p["spec"].update(loadBalancerSourceRanges=["0.0.0.0/0"])
    )
    assert any("admits every source" in m for _h, m in rule(world))
    unported = _edit(NETPOL, "dev-pod", lambda p: p["spec"]["ingress"][0].pop("ports"))
    assert rule(unported)


def test_a_pin_at_the_clusters_version_or_latest_passes():
    rule = STACK_BY_NAME["namespace-pod-security"]
    for pin in ("v1.34", "v1.35", "latest"):
        labels = {f"pod-security.kubernetes.io/{m}-version": pin for m in ("enforce", "warn")}
        stack = _edit(
            NS, "training", lambda p, labels=labels: p["metadata"]["labels"].update(labels)
        )
        assert rule(stack) == [], pin


# --------------------------------------------------------------------- in CrossGuard


def _as_outputs(resources):
    """The stack as stack validation sees it: the raw EKS cluster instead of the component,
    live objects (defaulted labels, status), resource IDs among the outputs."""
    out = []
    for urn, type_, props, names in copy.deepcopy(resources):
        if type_ == EKS:
            type_, props = "aws:eks/cluster:Cluster", {"version": props["version"], "id": "c"}
        if type_ == NS:
            props["metadata"]["labels"]["kubernetes.io/metadata.name"] = props["metadata"]["name"]
        if type_.startswith("kubernetes:"):
            props["status"] = {}
        if type_ == ASSOCIATION:
            props.update(id=names[1], associationArn="arn:aws:eks:::podidentityassociation/x")
        out.append(
            pulumi_policy.PolicyResource(type_, props, urn, names[0], _opts(), None, None, [], {})
        )
    return out


def _validate(policy, resources):
    reported = []
    policy.validate(
        pulumi_policy.StackValidationArgs(_as_outputs(resources)),
        lambda msg, urn=None: reported.append((msg, urn)),
    )
    return reported


def test_kubernetes_stack_rules_hold_on_crossguard_outputs():
    built = _pack_policies()
    for name in sorted(K8S_STACK_RULES):
        assert _validate(built[name], k8s_stack()) == [], name
    for name, resources, why in K8S_STACK_CASES:
        reported = _validate(built[name], resources)
        urns = {r[0] for r in resources}
        assert reported and all(urn in urns for _m, urn in reported), (name, why)


def test_an_upstream_installs_objects_are_left_to_the_install():
    # A real preview registers the training operator overlay's objects as its children: its own
    # namespace (no Pod Security labels, no NetworkPolicy) and the operator's Deployment.
    built = _pack_policies()
    overlay = "urn:pulumi:s::p::trainstack:operators:Operators$kubernetes:kustomize/v2:Directory$"
    deployment = {
        "metadata": {"name": "training-operator", "namespace": "kubeflow"},
        "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "ghcr.io/x:v1"}]}}},
    }
    children = [
        (f"{overlay}{NS}::kubeflow", NS, {"metadata": {"name": "kubeflow", "labels": {}}}, ("k",)),
        (
            f"{overlay}kubernetes:apps/v1:Deployment::op",
            "kubernetes:apps/v1:Deployment",
            deployment,
            ("op",),
        ),
    ]
    own = [(u.replace("kubernetes:kustomize/v2:Directory$", ""), *rest) for u, *rest in children]
    for name in ("namespace-pod-security", "network-policy-coverage"):
        assert _validate(built[name], k8s_stack() + children) == [], name
        assert _validate(built[name], k8s_stack() + own), name
