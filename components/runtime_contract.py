"""What each workload needs at run time, declared once next to the component that renders it.

A `Contract` names a workload's pods (by labels in the jobs namespace) and says:

- `calls`: what its pods open connections to (CoreDNS, AWS's endpoints, peers of the same job, a
  Ray head's dashboard, the Kubernetes API, ...);
- `called_by`: who opens connections to them (peers, the KubeRay operator, a load balancer);
- `service_account` and `aws_identity`: the ServiceAccount its pods run under, and whether an
  EKS Pod Identity association maps it to an IAM role;
- `aws_access`: what that role must allow it (actions on which of the stack's resources);
- `api_rules`: the RBAC rules it needs in its namespace (none: no API token at all);
- `needs`: the objects that must exist before its pods start (Secrets, ConfigMaps, claims).

Everything else is generated from it, not written beside it: its NetworkPolicy
(network_policy.render_contract), its Role (render_role), the flows its identity and API access
imply (the Pod Identity agent, the API server), the `depends_on` of the object that creates its
pods (`prerequisites`), and the policy of each ServiceAccount's IAM role (`identity_access`, the
union over the contracts that run under it, and `render_identity_policy`). The tests evaluate
the rendered policies against every declared flow, and walk the plan's dependency graph against
every declared need.

Volumes (EFS, FSx, EBS) are mounted by the node's CSI driver, outside the pod's network
namespace: no pod flow is declared for them. Image pulls are the kubelet's, likewise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from string import Formatter
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
class AwsAccess:
    """One IAM statement a workload's identity needs. `resources` are templates naming the
    stack's resources by reference ("{artifacts_bucket}/data/*"), resolved when their ARNs are
    known (`render_identity_policy`); `condition` is the statement's Condition as IAM has it."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Contract:
    name: str  # unique in the namespace: its NetworkPolicy's name
    workload: str  # for people: "PyTorchJob llama-1b"
    pods: Mapping[str, str]  # the labels every pod of the workload carries
    calls: tuple[Peer, ...] = ()
    called_by: tuple[Peer, ...] = ()
    service_account: str | None = None  # None: the namespace's default, no identity
    aws_identity: bool = False  # an EKS Pod Identity association for service_account
    aws_access: tuple[AwsAccess, ...] = ()  # what its identity's role allows
    api_rules: tuple[Mapping[str, Any], ...] = ()
    needs: tuple[str, ...] = ()  # need keys, see the functions below
    vpc_cidr: str | None = field(default=None, compare=False)  # where the API server's ENIs are

    def __post_init__(self) -> None:
        if self.aws_identity and self.service_account is None:
            raise ValueError(f"{self.workload}: an AWS identity needs a ServiceAccount")
        if self.aws_access and not self.aws_identity:
            raise ValueError(f"{self.workload}: AWS access needs an AWS identity")
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


# ------------------------------------------------------------------------------ identities


def identity_access(contracts: Sequence[Contract], service_account: str) -> tuple[AwsAccess, ...]:
    """What the role of `service_account` must allow: every statement of the contracts that run
    under it with its identity, once. One sid means one statement: two contracts declaring it
    differently are a programming error."""
    by_sid: dict[str, AwsAccess] = {}
    for contract in contracts:
        if contract.service_account != service_account or not contract.aws_identity:
            continue
        for access in contract.aws_access:
            if by_sid.setdefault(access.sid, access) != access:
                raise ValueError(f"{service_account}: two different statements {access.sid}")
    return tuple(by_sid.values())


def render_identity_policy(
    access: Sequence[AwsAccess], arns: Mapping[str, str | None]
) -> dict[str, Any]:
    """The role's policy document: `access` with its references resolved from `arns`. A
    reference the stack resolves to None is a resource it does not have (an unencrypted topic
    has no key), and the statements naming it are left out; one it does not know is an error."""
    statements = []
    for a in access:
        refs = {name for r in a.resources for _, name, _, _ in Formatter().parse(r) if name}
        unknown = sorted(refs - arns.keys())
        if unknown:
            raise ValueError(f"{a.sid}: no ARN for {unknown}")
        if any(arns[name] is None for name in refs):
            continue
        resources = [r.format_map(arns) for r in a.resources]
        statement: dict[str, Any] = {
            "Sid": a.sid,
            "Effect": "Allow",
            "Action": list(a.actions),
            "Resource": resources[0] if len(resources) == 1 else resources,
        }
        if a.condition:
            statement["Condition"] = dict(a.condition)
        statements.append(statement)
    if not statements:
        raise ValueError("an identity with nothing to allow needs no role")
    return {"Version": "2012-10-17", "Statement": statements}


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
