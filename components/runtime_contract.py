"""What each workload needs at run time, declared once next to the component that renders it.

A `Contract` names a workload's pods (by labels in the jobs namespace) and says:

- `calls`: what its pods open connections to (CoreDNS, AWS's endpoints, peers of the same job, a
  Ray head's dashboard, the Kubernetes API, ...);
- `called_by`: who opens connections to them (peers, the KubeRay operator, a load balancer);
- `service_account` and `aws_identity`: the ServiceAccount its pods run under, and whether an
  EKS Pod Identity association maps it to an IAM role;
- `api_rules`: the RBAC rules it needs in its namespace (none: no API token at all);
- `needs`: the objects that must exist before its pods start (Secrets, ConfigMaps, claims).

Everything else is generated from it, not written beside it: its NetworkPolicy
(network_policy.render_contract), its Role (render_role), the flows its identity and API access
imply (the Pod Identity agent, the API server), and the `depends_on` of the object that creates
its pods (`prerequisites`). The tests evaluate the rendered policies against every declared
flow, and walk the plan's dependency graph against every declared need.

Volumes (EFS, FSx, EBS) are mounted by the node's CSI driver, outside the pod's network
namespace: no pod flow is declared for them. Image pulls are the kubelet's, likewise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The pod-level policy engine on EKS is the VPC CNI's network policy agent; the facts below are
# the addresses and ports its rules must name (docs/upstream-facts.md, "Runtime flows").
IMDS = "169.254.169.254/32"
# aws/eks-pod-identity-agent: a hostNetwork DaemonSet serving credentials on
# 169.254.170.23:80 (charts/eks-pod-identity-agent values `agent.additionalArgs` --port 80);
# the Pod Identity webhook points AWS_CONTAINER_CREDENTIALS_FULL_URI there. The agent filters
# link-local destinations like any other, so a pod with an identity needs this rule.
POD_IDENTITY_AGENT_CIDR = "169.254.170.23/32"
POD_IDENTITY_AGENT_PORT = 80
DNS_NAMESPACE = "kube-system"
DNS_LABELS = {"k8s-app": "kube-dns"}  # the CoreDNS add-on's pods
HTTPS = 443


@dataclass(frozen=True)
class Port:
    port: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class Peer:
    """One end of a flow in NetworkPolicy terms: an address block, or pods (in the workload's
    own namespace unless `namespace` names another), on `ports` (empty: every port). A peer with
    neither `cidr` nor `pods` is anyone (a load balancer's clients)."""

    what: str  # for people: "EKS Pod Identity agent"
    ports: tuple[Port, ...] = ()
    cidr: str | None = None
    except_cidrs: tuple[str, ...] = ()
    pods: Mapping[str, str] | None = None
    namespace: str | None = None

    def __post_init__(self) -> None:
        if self.cidr is not None and (self.pods is not None or self.namespace is not None):
            raise ValueError(f"{self.what}: an address block or pods, not both")


@dataclass(frozen=True)
class Contract:
    name: str  # unique in the namespace: its NetworkPolicy's name
    workload: str  # for people: "PyTorchJob llama-1b"
    pods: Mapping[str, str]  # the labels every pod of the workload carries
    calls: tuple[Peer, ...] = ()
    called_by: tuple[Peer, ...] = ()
    service_account: str | None = None  # None: the namespace's default, no identity
    aws_identity: bool = False  # an EKS Pod Identity association for service_account
    api_rules: tuple[Mapping[str, Any], ...] = ()
    needs: tuple[str, ...] = ()  # need keys, see the functions below
    vpc_cidr: str | None = field(default=None, compare=False)  # where the API server's ENIs are

    def __post_init__(self) -> None:
        if self.aws_identity and self.service_account is None:
            raise ValueError(f"{self.workload}: an AWS identity needs a ServiceAccount")
        if self.api_rules and (self.service_account is None or self.vpc_cidr is None):
            raise ValueError(f"{self.workload}: API access needs a ServiceAccount and the VPC")

    def egress(self) -> tuple[Peer, ...]:
        """The declared calls plus those the identity and API access imply."""
        implied = []
        if self.aws_identity:
            implied.append(pod_identity_agent())
        if self.api_rules:
            implied.append(kubernetes_api(self.vpc_cidr or ""))
        return (*self.calls, *implied)

    def all_needs(self) -> tuple[str, ...]:
        """What must exist before a pod starts: the declared needs, its NetworkPolicy (the agent's
        strict mode denies a selected pod everything until its policy is there), its
        ServiceAccount, identity association and RBAC."""
        out = [*self.needs, network_policy_need(self.name)]
        if self.service_account is not None:
            out.append(service_account_need(self.service_account))
        if self.aws_identity and self.service_account is not None:
            out.append(identity_need(self.service_account))
        if self.api_rules:
            out.append(rbac_need(self.name))
        return tuple(dict.fromkeys(out))


# ------------------------------------------------------------------------------ need keys


def service_account_need(name: str) -> str:
    return f"serviceaccount/{name}"


def identity_need(service_account: str) -> str:
    """The Pod Identity association of a ServiceAccount: the webhook injects credentials only
    when a pod is admitted, so a pod admitted before the association never gets them."""
    return f"podidentityassociation/{service_account}"


def rbac_need(contract: str) -> str:
    return f"rbac/{contract}"


def network_policy_need(contract: str) -> str:
    return f"networkpolicy/{contract}"


def secret_need(name: str) -> str:
    return f"secret/{name}"


def configmap_need(name: str) -> str:
    return f"configmap/{name}"


def claim_need(name: str) -> str:
    return f"persistentvolumeclaim/{name}"


def prerequisites(contracts: Sequence[Contract], made: Mapping[str, Any]) -> list[Any]:
    """The resources (values of `made`, keyed by need) the pods of `contracts` wait for, in
    need order; a need nothing made is a programming error, raised at plan time."""
    out: list[Any] = []
    for contract in contracts:
        missing = [n for n in contract.all_needs() if n not in made]
        if missing:
            raise ValueError(f"{contract.workload}: nothing in the stack creates {missing}")
        for need in contract.all_needs():
            value = made[need]
            for resource in value if isinstance(value, list) else [value]:
                if all(resource is not r for r in out):
                    out.append(resource)
    return out


# ------------------------------------------------------------------------- common peers


def dns() -> Peer:
    return Peer(
        "CoreDNS",
        (Port(53, "UDP"), Port(53, "TCP")),
        pods=DNS_LABELS,
        namespace=DNS_NAMESPACE,
    )


def https_outside(vpc_cidr: str | None) -> Peer:
    """TCP 443 to public addresses: AWS's regional endpoints (S3 through the gateway endpoint
    keeps S3's public addresses), the Hugging Face hub, package indexes. NetworkPolicy has no
    host names. The VPC is excepted when given: pods, the API server's ENIs and other
    namespaces' webhooks have VPC addresses; the stack passes None when interface endpoints put
    AWS's APIs on VPC addresses."""
    return Peer(
        "AWS endpoints and the Hugging Face hub (HTTPS)",
        (Port(HTTPS),),
        cidr="0.0.0.0/0",
        except_cidrs=(IMDS, *([vpc_cidr] if vpc_cidr else [])),
    )


def pod_identity_agent() -> Peer:
    return Peer(
        "EKS Pod Identity agent",
        (Port(POD_IDENTITY_AGENT_PORT),),
        cidr=POD_IDENTITY_AGENT_CIDR,
    )


def kubernetes_api(vpc_cidr: str) -> Peer:
    """The API server through its cross-account ENIs in the VPC (the private endpoint)."""
    return Peer("Kubernetes API server", (Port(HTTPS),), cidr=vpc_cidr)


def same_pods(what: str, labels: Mapping[str, str], ports: tuple[Port, ...] = ()) -> Peer:
    return Peer(what, ports, pods=dict(labels))


def anyone(what: str, ports: tuple[Port, ...]) -> Peer:
    return Peer(what, ports)


PART_OF = {"app.kubernetes.io/part-of": "trainstack"}


def _rbac_metadata(contract: Contract, namespace: str, labels: Mapping[str, str]) -> dict:
    return {"name": contract.name, "namespace": namespace, "labels": dict(labels)}


def render_role(
    contract: Contract, namespace: str, labels: Mapping[str, str] = PART_OF
) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _rbac_metadata(contract, namespace, labels),
        "rules": [dict(r) for r in contract.api_rules],
    }


def render_role_binding(
    contract: Contract, namespace: str, labels: Mapping[str, str] = PART_OF
) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _rbac_metadata(contract, namespace, labels),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": contract.name},
        "subjects": [
            {"kind": "ServiceAccount", "name": contract.service_account, "namespace": namespace}
        ],
    }
