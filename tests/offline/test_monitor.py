"""The mock monitor (trainstack/offline/monitor.py): engine-shaped URNs and the traps 1-3 of
docs/offline-testing.md, each with a tiny program using pulumi-eks."""

from __future__ import annotations

import json

import pulumi
from mock_engine import cluster_program, run

from trainstack.offline.fakes.values import ACCOUNT_ID


def test_reading_eks_cluster_name_into_another_resource():
    plan = run(cluster_program())
    queue = plan.one("aws:sqs/queue:Queue", "interruption")
    assert queue.inputs["name"] == "trainstack-dev-q"


def test_resources_passed_to_a_remote_component_arrive_as_urns():
    plan = run(cluster_program())
    ng = plan.one("eks:index:ManagedNodeGroup", "gpu")
    cluster = plan.one("eks:index:Cluster")
    role = plan.one("aws:iam/role:Role", "gpu-node")
    assert ng.inputs["cluster"] == cluster.urn
    assert ng.inputs["nodeRole"] == role.urn
    assert ng.inputs["scalingConfig"] == {"minSize": 0, "desiredSize": 0, "maxSize": 2}
    # The faked nodeGroup reference resolves, with the cluster's name in its ARN.
    assert plan.outputs["nodeGroupArn"].startswith(
        f"arn:aws:eks:us-west-2:{ACCOUNT_ID}:nodegroup/trainstack-dev/gpu/"
    )
    assert plan.outputs["nodeRoleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/gpu-node"


def test_method_call_on_remote_component_routes_to_mocks():
    plan = run(cluster_program(export_kubeconfig_call=True))
    via_call = json.loads(plan.outputs["viaCall"])
    exec_ = via_call["users"][0]["user"]["exec"]
    assert {"name": "AWS_PROFILE", "value": "training"} in exec_["env"]
    assert "trainstack-dev" in exec_["args"]


def test_project_and_stack_names_shape_urns():
    plan = run(lambda: pulumi.export("stack", pulumi.get_stack()), project="other", stack="efa")
    assert plan.outputs == {"stack": "efa"}
    assert plan.stack_urn == "urn:pulumi:efa::other::pulumi:pulumi:Stack::other-efa"
