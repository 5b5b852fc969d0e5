"""pulumi-eks under the engine (trainstack/offline/fakes/eks.py): one registration per remote
component, with faked outputs a kubernetes provider and the program can use."""

from __future__ import annotations

import json

import pulumi
import pulumi_eks as eks
import pulumi_kubernetes as k8s
from mock_engine import cluster_program, run

from trainstack.offline.fakes.values import ACCOUNT_ID


def test_eks_cluster_is_one_registration_with_faked_outputs():
    plan = run(cluster_program())
    cluster = plan.one("eks:index:Cluster", "cluster")
    assert not cluster.custom and cluster.remote
    # Components never echo inputs (engine.py, point 4): component inputs are what was given, never echoed outputs.
    assert cluster.inputs == {
        "name": "trainstack-dev",
        "version": "1.34",
        "skipDefaultNodeGroup": True,
    }
    # Its children (the aws:eks/cluster:Cluster) are not part of the plan.
    assert plan.of_type("aws:eks/cluster:Cluster") == []

    assert plan.outputs["clusterName"] == "trainstack-dev"
    assert plan.outputs["endpoint"].endswith(".gr7.us-west-2.eks.amazonaws.com")
    assert plan.outputs["oidcArn"].startswith(
        f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/"
    )
    kubeconfig = json.loads(plan.outputs["kubeconfigJson"])
    assert kubeconfig["clusters"][0]["cluster"]["server"] == plan.outputs["endpoint"]
    assert "trainstack-dev" in kubeconfig["users"][0]["user"]["exec"]["args"]


def test_k8s_provider_from_kubeconfig_used_by_release_and_custom_resource():
    def program():
        cluster = eks.Cluster("cluster", name="trainstack-dev")
        provider = k8s.Provider("k8s", kubeconfig=cluster.kubeconfig_json)
        opts = pulumi.ResourceOptions(provider=provider)
        k8s.helm.v3.Release(
            "karpenter",
            chart="oci://public.ecr.aws/karpenter/karpenter",
            version="1.14.0",
            namespace="kube-system",
            values={"settings": {"clusterName": cluster.eks_cluster.name}},
            opts=opts,
        )
        k8s.apiextensions.CustomResource(
            "smoke",
            api_version="kubeflow.org/v1",
            kind="PyTorchJob",
            metadata={"namespace": "training"},
            spec={"pytorchReplicaSpecs": {"Worker": {"replicas": 2}}},
            opts=opts,
        )

    plan = run(program)
    provider = plan.one("pulumi:providers:kubernetes", "k8s")
    assert provider.custom
    kubeconfig = json.loads(provider.inputs["kubeconfig"])
    assert kubeconfig["current-context"] == "aws"

    release = plan.one("kubernetes:helm.sh/v3:Release", "karpenter")
    assert release.provider == provider.urn
    assert release.inputs["values"] == {"settings": {"clusterName": "trainstack-dev"}}

    job = plan.one("kubernetes:kubeflow.org/v1:PyTorchJob", "smoke")
    assert job.custom and job.provider == provider.urn
    assert job.inputs["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 2
    assert job.inputs["metadata"] == {"namespace": "training"}


def test_a_managed_node_groups_transforms_reach_the_node_group_inside_it():
    """Trap 6 (docs/offline-testing.md): the engine runs a packaged component's transforms on
    the children its plugin creates; the fake runs them on the node group's inputs."""
    seen = []

    def label(args):
        seen.append(args.type_)
        if args.type_ != "aws:eks/nodeGroup:NodeGroup":
            return None
        return pulumi.ResourceTransformResult(
            {**args.props, "nodeRepairConfig": {"enabled": True}}, args.opts
        )

    def program():
        cluster = eks.Cluster("cluster", name="trainstack-dev")
        for name, transforms in (("gpu", [label]), ("system", None)):
            eks.ManagedNodeGroup(
                name,
                cluster=cluster,
                node_role_arn="arn:aws:iam::123456789012:role/node",
                instance_types=["g5.xlarge"],
                opts=pulumi.ResourceOptions(transforms=transforms),
            )

    plan = run(program)
    groups = {r.name: r for r in plan.plugin_resources}
    gpu, system = groups["gpu-managedNodeGroup"], groups["system-managedNodeGroup"]
    assert gpu.inputs["nodeRepairConfig"] == {"enabled": True}
    assert (
        gpu.inputs["instanceTypes"] == ["g5.xlarge"]
        and gpu.parent == plan.one("eks:index:ManagedNodeGroup", "gpu").urn
    )
    assert "nodeRepairConfig" not in system.inputs
    # Not registrations of the program: nothing that reads the plan's resources sees them.
    assert plan.of_type("aws:eks/nodeGroup:NodeGroup") == []
    # Run once, on the gpu group's node group (the mock monitor runs none on the component).
    assert seen == ["aws:eks/nodeGroup:NodeGroup"]
