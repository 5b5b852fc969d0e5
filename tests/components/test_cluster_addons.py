"""The cluster's managed add-ons on the offline plan: the vpc-cni add-on, which carries the
network policy agent the jobs namespace relies on, has a pinned version, not pulumi-eks's
"newest for the cluster's version" (pulumi-eks 4.4.0 VpcCniOptionsArgs.addon_version); the node
monitoring agent add-on, and node repair on the GPU node groups and in Karpenter."""

import json
import re

import pytest
from support import inputs, plan

from components import node_health, versions


@pytest.mark.parametrize("stack", ["dev", "efa"])
def test_vpc_cni_add_on_version_is_pinned_with_network_policy_on(stack):
    cni = inputs(plan(stack), "eks:index:Cluster")["vpcCniOptions"]
    assert cni["addonVersion"] == versions.VPC_CNI_ADDON_VERSION
    assert cni["enableNetworkPolicy"] is True


def test_the_pin_is_an_eks_build_with_the_network_policy_agent():
    found = re.fullmatch(r"v(\d+)\.(\d+)\.\d+-eksbuild\.\d+", versions.VPC_CNI_ADDON_VERSION)
    assert found and tuple(map(int, found.groups())) >= versions.VPC_CNI_NETWORK_POLICY_SINCE
    # Documented for the default Kubernetes version and every other one it is used for.
    assert versions.KUBERNETES_DEFAULT in versions.VPC_CNI_KUBERNETES_VERSIONS
    assert set(versions.VPC_CNI_KUBERNETES_VERSIONS) <= set(versions.KUBERNETES_VERSIONS)


def test_a_named_vpc_cni_build_reaches_the_plan():
    result = plan(**{"trainstack:cluster__vpcCniVersion": "v1.21.1-eksbuild.1"})
    assert inputs(result, "eks:index:Cluster")["vpcCniOptions"]["addonVersion"] == (
        "v1.21.1-eksbuild.1"
    )


# Node health (components/node_health.py) on the plans above: cached, so no plan of its own.


@pytest.mark.parametrize("stack", ["dev", "efa"])
def test_the_node_monitoring_agent_add_on_is_pinned_configured_and_after_the_system_nodes(stack):
    result = plan(stack)
    agent = result.plan.one("aws:eks/addon:Addon", "trainstack-eks-node-monitoring-agent")
    assert agent.inputs["addonName"] == "eks-node-monitoring-agent"
    assert agent.inputs["addonVersion"] == versions.NODE_MONITORING_AGENT_VERSION
    assert json.loads(agent.inputs["configurationValues"]) == node_health.agent_values()
    system = result.plan.one("eks:index:ManagedNodeGroup", "trainstack-eks-system").urn
    assert system in agent.dependencies


@pytest.mark.parametrize("stack", ["dev", "efa"])
def test_gpu_node_groups_have_node_repair_on_and_karpenter_its_gate(stack):
    """The node groups pulumi-eks creates inside each ManagedNodeGroup, with the transforms run
    as the engine runs them on a packaged component's children (trainstack/offline/fakes)."""
    result = plan(stack)
    groups = {
        r.name.removesuffix("-managedNodeGroup"): r.inputs
        for r in result.plan.plugin_resources
        if r.type == node_health.NODE_GROUP
    }
    gpu = {f"trainstack-eks-{n}" for n in result.config.gpu_groups}
    assert gpu and set(groups) == gpu | {"trainstack-eks-system"}
    for name in gpu:
        assert groups[name]["nodeRepairConfig"] == {"enabled": True}, name
    assert "nodeRepairConfig" not in groups["trainstack-eks-system"]  # EKS's default: off
    karpenter = next(
        r for r in result.plan.of_type("kubernetes:helm.sh/v3:Release")
        if r.inputs["name"] == "karpenter"
    )  # fmt: skip
    assert karpenter.inputs["values"]["settings"]["featureGates"] == {"nodeRepair": True}
