"""`trainstack doctor`: is a deployed cluster able to run training jobs?

Two layers. The checks are pure functions over what AWS returns (describe_* dicts: aws_checks.py)
and over Kubernetes client models (V1Node and V1CustomResourceDefinition: node_checks.py; the
nodes' conditions: node_health.py; V1Deployment and V1DaemonSet: workloads.py; Kueue's
ClusterQueues: queues.py), so tests build
real objects and no check needs a cluster. A thin fetch layer (`aws_results`,
`k8s.fetch_objects`) calls the APIs and turns transport errors into failed checks. results.py
holds the check's outcome and the report; command.py the command.
"""

from .aws_checks import (
    aws_results,
    check_cluster,
    check_interruption_queue,
    check_interruption_rules,
    check_nodegroups,
    detail_types,
    list_clusters,
    pick_cluster,
)
from .command import run
from .k8s import ClusterObjects, fetch_objects, forbidden, kube_results, kubernetes_results
from .node_checks import OPTIONAL_CRDS, REQUIRED_CRDS, check_crds, check_efa_nodes, check_gpu_nodes
from .node_health import check_node_health
from .queues import check_cluster_queues
from .results import FAIL, MARKS, OK, WARN, DoctorError, Result, exit_code, ok, render
from .workloads import COMPONENTS, Component, check_component, check_components, find_workload

__all__ = [
    "COMPONENTS",
    "FAIL",
    "MARKS",
    "OK",
    "OPTIONAL_CRDS",
    "REQUIRED_CRDS",
    "WARN",
    "ClusterObjects",
    "Component",
    "DoctorError",
    "Result",
    "aws_results",
    "check_cluster",
    "check_cluster_queues",
    "check_component",
    "check_components",
    "check_crds",
    "check_efa_nodes",
    "check_gpu_nodes",
    "check_interruption_queue",
    "check_interruption_rules",
    "check_node_health",
    "check_nodegroups",
    "detail_types",
    "exit_code",
    "fetch_objects",
    "find_workload",
    "forbidden",
    "kube_results",
    "kubernetes_results",
    "list_clusters",
    "ok",
    "pick_cluster",
    "render",
    "run",
]
