"""IAM roles the platform creates: trust for one service, AWS managed policies, node roles."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonEKS_CNI_Policy",
    "AmazonSSMManagedInstanceCore",
)
POD_IDENTITY_ACTIONS = ("sts:AssumeRole", "sts:TagSession")


def role_trusting(
    name: str,
    service: str,
    opts: pulumi.ResourceOptions,
    *,
    tags: dict[str, str],
    actions: tuple[str, ...] = ("sts:AssumeRole",),
) -> aws.iam.Role:
    return aws.iam.Role(
        name,
        tags=tags,
        opts=opts,
        assume_role_policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": service}, "Action": list(actions)}
                ],
            }
        ),
    )


def pod_identity_role(
    name: str, opts: pulumi.ResourceOptions, tags: dict[str, str]
) -> aws.iam.Role:
    """A role EKS Pod Identity hands to one service account."""
    return role_trusting(
        name, "pods.eks.amazonaws.com", opts, tags=tags, actions=POD_IDENTITY_ACTIONS
    )


def attach_managed(
    role: aws.iam.Role, name: str, policies: tuple[str, ...], opts: pulumi.ResourceOptions
) -> list[aws.iam.RolePolicyAttachment]:
    return [
        aws.iam.RolePolicyAttachment(
            f"{name}-{p.rsplit('/', 1)[-1]}",
            role=role.name,
            policy_arn=f"arn:aws:iam::aws:policy/{p}",
            opts=opts,
        )
        for p in policies
    ]


def node_role(name: str, opts: pulumi.ResourceOptions, tags: dict[str, str]) -> aws.iam.Role:
    """The role of EC2 worker nodes: join the cluster, pull images, run the VPC CNI, SSM."""
    role = role_trusting(name, "ec2.amazonaws.com", opts, tags=tags)
    attach_managed(role, name, NODE_POLICIES, opts)
    return role
