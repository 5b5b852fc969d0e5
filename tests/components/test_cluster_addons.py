"""The cluster's managed add-ons on the offline plan: the vpc-cni add-on, which carries the
network policy agent the jobs namespace relies on, has a pinned version, not pulumi-eks's
"newest for the cluster's version" (pulumi-eks 4.4.0 VpcCniOptionsArgs.addon_version)."""

import re

import pytest
from support import inputs, plan

from components import versions


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
