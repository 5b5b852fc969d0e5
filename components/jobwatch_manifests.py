"""The job watcher's Kubernetes objects (jobwatch/, run by components/notifications.py), as
pure functions returning the manifests the tests validate against the schemas.

Its Role is read-only on what the classifier reads (PyTorchJobs, RayJobs, pods, their logs,
events) in the jobs namespace, plus get/update of its own ConfigMap by name (the record of what
was sent, jobwatch/sent.py), which the stack creates so no `create` is granted. It runs from the
trainer image on the system nodes as one replica, replaced with Recreate so two watchers never
run at once.
"""

from __future__ import annotations

from typing import Any

from .network_policy import _policy
from .pod_spec import harden_pod, render_service_account

NAME = "jobwatch"
CONFIGMAP = "jobwatch-state"
LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "trainstack"}
# EKS Pod Identity agent on every node (aws/eks-pod-identity-agent: 169.254.170.23:80).
POD_IDENTITY_AGENT = "169.254.170.23/32"
READ = ["get", "list", "watch"]


def metadata(name: str, namespace: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": dict(LABELS)}


def render_role(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": metadata(NAME, namespace),
        "rules": [
            {"apiGroups": ["kubeflow.org"], "resources": ["pytorchjobs"], "verbs": READ},
            {"apiGroups": ["ray.io"], "resources": ["rayjobs"], "verbs": READ},
            # pods/log: the classifier reads rank 0's log tail, as `trainstack status` does.
            {"apiGroups": [""], "resources": ["pods", "pods/log", "events"], "verbs": READ},
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": [CONFIGMAP],
                "verbs": ["get", "update"],
            },
        ],
    }


def render_role_binding(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata(NAME, namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}],
    }


def render_configmap(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(CONFIGMAP, namespace)}


def render_deployment(
    namespace: str, image: str, topic_arn: str, system_label: tuple[str, str]
) -> dict[str, Any]:
    container = {
        "name": NAME,
        "image": image,
        "command": ["python", "-m", "jobwatch"],
        "env": [
            {"name": "JOBWATCH_NAMESPACE", "value": namespace},
            {"name": "JOBWATCH_TOPIC_ARN", "value": topic_arn},
            {"name": "JOBWATCH_CONFIGMAP", "value": CONFIGMAP},
        ],
        "resources": {
            "requests": {"cpu": "50m", "memory": "256Mi"},
            "limits": {"memory": "512Mi"},
        },
    }
    spec = harden_pod(
        {
            "serviceAccountName": NAME,
            "nodeSelector": {system_label[0]: system_label[1]},
            "containers": [container],
        },
        api_access=True,  # it watches the API
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(NAME, namespace),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "template": {"metadata": {"labels": dict(LABELS)}, "spec": spec},
        },
    }


def render_network_policy(namespace: str, vpc_cidr: str) -> dict[str, Any]:
    """On top of the namespace's DNS and 443 egress: the EKS API's ENIs in the VPC (which that
    rule excepts) and the Pod Identity agent for its AWS credentials."""
    return _policy(
        f"{NAME}-egress",
        namespace,
        {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"ipBlock": {"cidr": vpc_cidr}}],
                    "ports": [{"protocol": "TCP", "port": 443}],
                },
                {
                    "to": [{"ipBlock": {"cidr": POD_IDENTITY_AGENT}}],
                    "ports": [{"protocol": "TCP", "port": 80}],
                },
            ],
        },
    )


def render_all(
    namespace: str, image: str, topic_arn: str, system_label: tuple[str, str], vpc_cidr: str
) -> list[dict[str, Any]]:
    return [
        render_service_account(NAME, namespace),
        render_role(namespace),
        render_role_binding(namespace),
        render_configmap(namespace),
        render_network_policy(namespace, vpc_cidr),
        render_deployment(namespace, image, topic_arn, system_label),
    ]
