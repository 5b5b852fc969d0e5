"""The Kubernetes side of `trainstack doctor`: read the nodes, CRDs and add-on workloads once,
run the checks over them, and turn a kubeconfig, transport or RBAC error into a failed check
that says where the problem lies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobwatch import kueue

from .. import kube, kueue_api
from .node_checks import check_crds, check_efa_nodes, check_gpu_nodes
from .node_health import check_node_health
from .queues import check_cluster_queues
from .results import FAIL, Result
from .workloads import COMPONENTS, check_components

API_TIMEOUT_S = 15
KUEUE_CRD = f"{kueue.CLUSTER_QUEUES}.{kueue.GROUP}"


@dataclass
class ClusterObjects:
    nodes: list = field(default_factory=list)
    crds: list = field(default_factory=list)
    deployments: list = field(default_factory=list)
    daemonsets: list = field(default_factory=list)
    cluster_queues: list = field(default_factory=list)  # Kueue's, where it is installed


def kube_results(objs: ClusterObjects) -> list[Result]:
    crd_names = {c.metadata.name for c in objs.crds}
    return [
        check_gpu_nodes(objs.nodes),
        check_efa_nodes(objs.nodes),
        *check_node_health(objs.nodes),
        check_crds(objs.crds),
        *check_components(objs.deployments, objs.daemonsets, objs.nodes, crd_names),
        *([check_cluster_queues(objs.cluster_queues)] if KUEUE_CRD in crd_names else []),
    ]


def fetch_objects(api_client) -> ClusterObjects:
    """Nodes, CRDs and the components' Deployments/DaemonSets in their namespaces. A namespace
    that does not exist is an empty list: the component check then reports it missing."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    ext = client.ApiextensionsV1Api(api_client)
    t = {"_request_timeout": API_TIMEOUT_S}
    objs = ClusterObjects(
        nodes=core.list_node(**t).items, crds=ext.list_custom_resource_definition(**t).items
    )
    # Only the kinds each namespace's components are: one list call per (kind, namespace).
    for kind, ns in sorted({(c.kind, c.namespace) for c in COMPONENTS}):
        deployment = kind == "Deployment"
        lister = apps.list_namespaced_deployment if deployment else apps.list_namespaced_daemon_set
        try:
            items = lister(ns, **t).items
        except ApiException as err:
            if err.status != 404:
                raise
            continue
        (objs.deployments if deployment else objs.daemonsets).extend(items)
    if any(c.metadata.name == KUEUE_CRD for c in objs.crds):
        objs.cluster_queues = kueue_api.list_objects(
            api_client, kueue.CLUSTER_QUEUES, timeout=API_TIMEOUT_S
        )
    return objs


def unreachable(desc: dict[str, Any], err: Exception) -> Result:
    """The API server did not answer: most often a private endpoint seen from outside the VPC."""
    vpc = desc.get("resourcesVpcConfig") or {}
    if not vpc.get("endpointPublicAccess", True):
        why = "the endpoint is private: only reachable from inside the VPC"
        fix = (
            "run doctor from inside the VPC (SSM/bastion/VPN), or allow your address: "
            "trainstack:cluster.endpoint {public: true, publicAccessCidrs: [<your-ip>/32]}"
        )
    else:
        cidrs = ", ".join(vpc.get("publicAccessCidrs") or []) or "any"
        why = f"public endpoint allows {cidrs}"
        fix = "check your address is in publicAccessCidrs and your network reaches AWS"
    return Result("Kubernetes API", FAIL, f"{type(err).__name__}: {str(err)[:200]}", why, fix)


def forbidden(err: Exception, cluster: str) -> Result:
    return Result(
        "Kubernetes API",
        FAIL,
        kube.api_message(err)[:200],
        "the API server refused you: no access entry for your IAM principal, or "
        "`aws eks get-token` (the kubeconfig's exec plugin) failed",
        f"add your role to trainstack:cluster.adminPrincipals and `pulumi up`; "
        f"`aws eks list-access-entries --cluster-name {cluster}` shows who has access",
    )


def kubernetes_results(desc: dict[str, Any], region: str, kubeconfig: str | None) -> list[Result]:
    from kubernetes.client.rest import ApiException
    from urllib3.exceptions import HTTPError

    try:
        api = kube.api_client(
            cluster=desc["name"],
            region=region,
            arn=desc.get("arn"),
            endpoint=desc.get("endpoint"),
            kubeconfig=kubeconfig,
        )
    except kube.KubeConfigError as err:
        return [
            Result(
                "kubeconfig",
                FAIL,
                str(err),
                "the Kubernetes-side checks need credentials for this cluster",
                err.fix,
            )
        ]
    try:
        objs = fetch_objects(api)
    except ApiException as err:
        if err.status in (401, 403):
            return [forbidden(err, desc["name"])]
        return [
            Result(
                "Kubernetes API",
                FAIL,
                kube.api_message(err)[:200],
                "the Kubernetes-side checks could not run",
                "kubectl get nodes",
            )
        ]
    except (HTTPError, OSError) as err:
        return [unreachable(desc, err)]
    return kube_results(objs)
