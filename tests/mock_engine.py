"""Helpers for the tests of the offline mock engine (tests/offline/): the config a tiny program
runs with, the root stack's URN, and a program using pulumi-eks the monitor and fakes tests share.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks

from trainstack.offline.engine import run_program

BASE_CONFIG = {"aws:region": "us-west-2"}
STACK_URN = "urn:pulumi:dev::trainstack::pulumi:pulumi:Stack::trainstack-dev"


def run(program, **kwargs):
    kwargs.setdefault("config", BASE_CONFIG)
    return run_program(program, **kwargs)


def cluster_program(export_kubeconfig_call: bool = False):
    def program():
        role = aws.iam.Role("gpu-node", assume_role_policy="{}")
        cluster = eks.Cluster(
            "cluster", name="trainstack-dev", version="1.34", skip_default_node_group=True
        )
        node_group = eks.ManagedNodeGroup(
            "gpu",
            cluster=cluster,
            node_role=role,
            instance_types=["g5.xlarge"],
            scaling_config={"min_size": 0, "desired_size": 0, "max_size": 2},
        )
        pulumi.export("nodeGroupArn", node_group.node_group.arn)
        pulumi.export("nodeRoleArn", node_group.node_group.node_role_arn)
        # Trap 1 (docs/offline-testing.md): a component output that is a resource reference.
        aws.sqs.Queue("interruption", name=cluster.eks_cluster.name.apply(lambda n: f"{n}-q"))
        pulumi.export("clusterName", cluster.eks_cluster.name)
        pulumi.export("endpoint", cluster.eks_cluster.endpoint)
        pulumi.export("oidcArn", cluster.oidc_provider_arn)
        pulumi.export("kubeconfigJson", cluster.kubeconfig_json)
        if export_kubeconfig_call:
            # Trap 3: a method call on a remote component.
            pulumi.export("viaCall", cluster.get_kubeconfig(profile_name="training"))

    return program
