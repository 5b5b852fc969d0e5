"""pulumi-eks under the mock engine: the cluster's state, its kubeconfig, and the outputs of the
``eks:index:Cluster`` and ``eks:index:ManagedNodeGroup`` remote components.

A remote component is one registration with no children here, so the resources its plugin would
create (the ``aws:eks/cluster:Cluster``, the node group) are registered as fakes in the monitor and
answered as references to them (docs/offline-testing.md, trap 1). The component's transforms run
on the node group's inputs, as the engine runs them on a packaged component's children.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from ..captured import Captured
from ..monitor import OfflineMonitor
from ..sdk import pulumi
from .values import ACCOUNT_ID, as_list, fake_uuid, hex_digest

# Facts of each eks:index:Cluster (by URN) that calls on it need: {"name": ..., "state": ...}.
ClusterFacts = dict[str, Any]


def kubeconfig(
    cluster_name: str,
    endpoint: str,
    ca: str,
    region: str,
    profile: str | None = None,
    role_arn: str | None = None,
) -> dict:
    args = [
        "eks",
        "get-token",
        "--cluster-name",
        cluster_name,
        "--region",
        region,
        "--output",
        "json",
    ]
    if role_arn:
        args += ["--role-arn", role_arn]
    env = [
        {
            "name": "KUBERNETES_EXEC_INFO",
            "value": '{"apiVersion": "client.authentication.k8s.io/v1beta1"}',
        }
    ]
    if profile:
        env.append({"name": "AWS_PROFILE", "value": profile})
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "kubernetes",
                "cluster": {"server": endpoint, "certificate-authority-data": ca},
            }
        ],
        "contexts": [{"name": "aws", "context": {"cluster": "kubernetes", "user": "aws"}}],
        "current-context": "aws",
        "preferences": {},
        "users": [
            {
                "name": "aws",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "aws",
                        "args": args,
                        "env": env,
                    }
                },
            }
        ],
    }


def eks_cluster_state(cluster_name: str, urn: str, inputs: dict, region: str) -> dict:
    """State of the ``aws:eks/cluster:Cluster`` (read or inside an ``eks:index:Cluster``)."""

    hexid = hex_digest(urn, length=32).upper()
    endpoint = f"https://{hexid}.gr7.{region}.eks.amazonaws.com"
    ca = base64.b64encode(f"offline CA for {cluster_name}".encode()).decode()
    subnet_ids = as_list(inputs.get("subnetIds")) or (
        as_list(inputs.get("privateSubnetIds")) + as_list(inputs.get("publicSubnetIds"))
    )
    vpc_config = {
        "clusterSecurityGroupId": f"sg-{hex_digest(urn, 'cluster-sg')}",
        "subnetIds": subnet_ids,
        "endpointPrivateAccess": bool(inputs.get("endpointPrivateAccess", False)),
        "endpointPublicAccess": bool(inputs.get("endpointPublicAccess", True)),
        "vpcId": inputs.get("vpcId") or "",
    }
    if isinstance(inputs.get("vpcConfig"), dict):
        vpc_config.update({k: v for k, v in inputs["vpcConfig"].items() if v is not None})
    return {
        "name": cluster_name,
        "arn": f"arn:aws:eks:{region}:{ACCOUNT_ID}:cluster/{cluster_name}",
        "endpoint": endpoint,
        "certificateAuthority": {"data": ca},
        "version": inputs.get("version") or "1.34",
        "platformVersion": "eks.1",
        "status": "ACTIVE",
        "vpcConfig": vpc_config,
        "identities": [
            {
                "oidcs": [
                    {
                        "issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{hexid}",
                    }
                ]
            }
        ],
        "roleArn": inputs.get("roleArn")
        or f"arn:aws:iam::{ACCOUNT_ID}:role/{cluster_name}-eksRole",
    }


def cluster_outputs(
    monitor: OfflineMonitor, urn: str, name: str, inputs: dict, region: str
) -> tuple[dict, ClusterFacts]:
    """Outputs of an ``eks:index:Cluster``, and the facts its method calls need."""
    cluster_name = inputs.get("name") or name
    eks_state = eks_cluster_state(cluster_name, urn, inputs, region)
    ref = monitor.register_fake(
        urn, "aws:eks/cluster:Cluster", f"{name}-eksCluster", cluster_name, eks_state
    )
    issuer = eks_state["identities"][0]["oidcs"][0]["issuer"]
    issuer_host = issuer.removeprefix("https://")
    config = kubeconfig(
        cluster_name,
        eks_state["endpoint"],
        eks_state["certificateAuthority"]["data"],
        region,
    )
    outputs = {
        "eksCluster": ref,
        "kubeconfig": config,
        "kubeconfigJson": json.dumps(config),
        "clusterSecurityGroupId": eks_state["vpcConfig"]["clusterSecurityGroupId"],
        "nodeSecurityGroupId": f"sg-{hex_digest(urn, 'node-sg')}",
        "oidcProviderArn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{issuer_host}",
        "oidcProviderUrl": issuer,
        "oidcIssuer": issuer_host,
        "instanceRoles": [],
    }
    return outputs, {"name": cluster_name, "state": eks_state}


NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def transformed(transforms: list, type_: str, name: str, props: dict) -> dict:
    """``props`` after each transform of the parent (``ResourceOptions.transforms``), in order."""
    for transform in transforms:
        args = pulumi.ResourceTransformArgs(True, type_, name, props, pulumi.ResourceOptions())
        result = transform(args)
        if result is not None:
            props = dict(result.props)
    return props


def managed_node_group(
    monitor: OfflineMonitor,
    urn: str,
    name: str,
    inputs: dict,
    region: str,
    clusters: dict[str, ClusterFacts],
    transforms: list | None = None,
) -> tuple[dict, Captured]:
    """Reference to the fake node group (``aws:eks/nodeGroup:NodeGroup``) of a ManagedNodeGroup,
    and the node group as the plugin would register it (its inputs after the transforms)."""
    cluster = inputs.get("cluster")
    cluster_name = inputs.get("clusterName")
    if not cluster_name:
        if isinstance(cluster, str) and cluster in clusters:
            cluster_name = clusters[cluster]["name"]
        elif isinstance(cluster, dict):  # CoreData passed explicitly
            cluster_name = (
                (cluster.get("cluster") or {}).get("name")
                if isinstance(cluster.get("cluster"), dict)
                else None
            )
    cluster_name = cluster_name or "cluster"
    ng_name = inputs.get("nodeGroupName") or name
    role_arn = inputs.get("nodeRoleArn") or monitor.state_of(inputs.get("nodeRole")).get("arn")
    scaling = inputs.get("scalingConfig") or {"desiredSize": 2, "minSize": 1, "maxSize": 2}
    child = f"{name}-managedNodeGroup"
    props = {
        "clusterName": cluster_name,
        "nodeGroupName": ng_name,
        "nodeRoleArn": role_arn or "",
        "scalingConfig": scaling,
        "instanceTypes": inputs.get("instanceTypes") or ["t3.medium"],
        "capacityType": inputs.get("capacityType") or "ON_DEMAND",
        "amiType": inputs.get("amiType") or "AL2023_x86_64_STANDARD",
        "labels": inputs.get("labels") or {},
        "taints": inputs.get("taints") or [],
        "subnetIds": inputs.get("subnetIds") or [],
        "version": inputs.get("version") or "1.34",
    }
    props = transformed(transforms or [], NODE_GROUP, child, props)
    arn = f"arn:aws:eks:{region}:{ACCOUNT_ID}:nodegroup/{cluster_name}/{ng_name}/{fake_uuid(urn)}"
    state = {**props, "arn": arn, "status": "ACTIVE"}
    id_ = f"{cluster_name}:{ng_name}"
    ref = monitor.register_fake(urn, NODE_GROUP, child, id_, state)
    captured = Captured(
        type=NODE_GROUP,
        name=child,
        urn=ref["urn"],
        parent=urn,
        provider=None,
        custom=True,
        inputs=props,
        id=id_,
        state=state,
    )
    return ref, captured
