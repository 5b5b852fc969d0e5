"""NetworkPolicies of the jobs namespace: deny by default, then allow what training needs.

Pure functions returning Kubernetes JSON (validated against the schemas by the tests). They are
enforced only by a policy engine: on EKS the VPC CNI's network policy agent, which the cluster
enables (components/cluster.py, vpc-cni `enableNetworkPolicy`). EFA traffic (SRD, OS bypass)
never enters the kernel's IP stack, so these rules cannot and do not filter it. Kubelet probes
(KubeRay's HTTP health probes) come from the node's IP, which the agent always allows
(aws/aws-network-policy-agent PR #65, "Ignore policy restrictions against Node IP").
"""

from __future__ import annotations

from typing import Any

from .dev_pod import NAME as DEV_POD_NAME
from .pod_spec import JOB_LABEL

# The node's credentials. Job pods have no AWS identity of their own (no Pod Identity
# association): a future one reaches its agent at 169.254.170.23:80 and needs a rule of its own.
IMDS = "169.254.169.254/32"


def _policy(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "trainstack"},
        },
        "spec": spec,
    }


def render_default_deny(namespace: str) -> dict[str, Any]:
    """Every pod of the namespace: no traffic in or out but what another policy allows."""
    return _policy(
        "default-deny", namespace, {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    )


def render_dns_and_https_egress(namespace: str, vpc_cidr: str | None = None) -> dict[str, Any]:
    """DNS to CoreDNS, and TCP 443 anywhere but the instance metadata service: AWS endpoints
    and the Hugging Face hub. NetworkPolicy cannot name hosts (no FQDN rules), so 443 is open to
    every public address. With `vpc_cidr`, the VPC is excepted too: with the VPC CNI, pods, the
    EKS API's ENIs and other namespaces' webhooks all have VPC addresses, and a job needs none of
    them (AWS's public endpoints and the S3 gateway endpoint are outside the VPC). The stack
    passes None when interface endpoints are on, since their ENIs are in the VPC."""
    dns_ports = [{"protocol": p, "port": 53} for p in ("UDP", "TCP")]
    return _policy(
        "dns-and-https-egress",
        namespace,
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                            },
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": dns_ports,
                },
                {
                    "to": [
                        {
                            "ipBlock": {
                                "cidr": "0.0.0.0/0",
                                "except": [IMDS, *([vpc_cidr] if vpc_cidr else [])],
                            }
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": 443}],
                },
            ],
        },
    )


def render_job_internal(job_name: str, namespace: str) -> dict[str, Any]:
    """All TCP/UDP between one job's own pods and nothing from other jobs: c10d rendezvous,
    NCCL's socket transport (ephemeral ports), and inside a Ray cluster GCS 6379, dashboard
    8265 (the submitter), client 10001 and the workers' dynamic ports."""
    same_job = [{"podSelector": {"matchLabels": {JOB_LABEL: job_name}}}]
    return _policy(
        f"job-{job_name}",
        namespace,
        {
            "podSelector": {"matchLabels": {JOB_LABEL: job_name}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": same_job}],
            "egress": [{"to": same_job}],
        },
    )


def render_dev_pod_ingress(namespace: str, ports: list[int]) -> dict[str, Any]:
    """The dev pod's ssh and JupyterLab ports, for its NLB (whose loadBalancerSourceRanges are
    the allow-list). `kubectl port-forward` enters the pod's own network namespace through the
    kubelet and needs no rule."""
    return _policy(
        "dev-pod-ingress",
        namespace,
        {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": DEV_POD_NAME}},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": p} for p in ports]}],
        },
    )


def render_all(
    namespace: str,
    job_names: list[str],
    dev_pod_ports: list[int] | None = None,
    vpc_cidr: str | None = None,
) -> list[dict[str, Any]]:
    """Every policy of the namespace; `dev_pod_ports` only when the dev pod has a load balancer,
    `vpc_cidr` to keep the VPC out of the 443 egress."""
    out = [render_default_deny(namespace), render_dns_and_https_egress(namespace, vpc_cidr)]
    out += [render_job_internal(name, namespace) for name in sorted(job_names)]
    if dev_pod_ports:
        out.append(render_dev_pod_ingress(namespace, dev_pod_ports))
    return out
