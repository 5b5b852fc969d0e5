"""ServiceAccounts: what a pod gets from the identity it runs under. A pod's API token is mounted
only where its ServiceAccount is bound to a Role (it calls the API); its AWS credentials come
from the one EKS Pod Identity association its template names, so moving a workload to another
ServiceAccount, which would hand it that account's IAM role, is refused.

Kubernetes mounts the token unless the pod, or else its ServiceAccount, sets
automountServiceAccountToken: false (the pod's setting wins; kubernetes/website content/en/docs/
tasks/configure-pod-container/configure-service-account.md). The EKS Pod Identity webhook
injects credentials into every pod of a ServiceAccount that has an association, keyed by
namespace and ServiceAccount (EKS user guide, pod-id-association).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..required import POD_IDENTITY_ANNOTATION
from .base import MANDATORY, Planned, Rule, StackRule, name_of
from .kube import (
    CLUSTER_ROLE_BINDING,
    POD_IDENTITY_ASSOCIATION,
    ROLE_BINDING,
    SERVICE_ACCOUNT,
    namespace_of,
    pod_templates_of,
)


def _no_automount(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    if props.get("automountServiceAccountToken") is False:
        return []
    return [
        f"ServiceAccount {name_of(props)} mounts its API token into every pod by default: set "
        "automountServiceAccountToken: false (a pod that calls the API opts in itself)"
    ]


def _bound_accounts(resources: Sequence[Planned]) -> set[tuple[str, str]]:
    """(namespace, name) of every ServiceAccount a binding of the stack grants a role to."""
    out = set()
    for _h, type_, props, _n in resources:
        if type_ not in (ROLE_BINDING, CLUSTER_ROLE_BINDING):
            continue
        for s in props.get("subjects") or []:
            if s.get("kind") == "ServiceAccount":
                out.add((str(s.get("namespace") or namespace_of(props)), str(s.get("name"))))
    return out


def token_only_where_needed(
    resources: Sequence[Planned], _cfg: Mapping[str, Any]
) -> list[tuple[Any, str]]:
    bound = _bound_accounts(resources)
    accounts = {
        (namespace_of(p), name_of(p)): p.get("automountServiceAccountToken")
        for _h, t, p, _n in resources
        if t == SERVICE_ACCOUNT
    }
    out = []
    for pod in pod_templates_of(resources):
        key = (pod.namespace, pod.service_account)
        mounted = pod.spec.get("automountServiceAccountToken")
        if mounted is None:
            mounted = accounts.get(key)
        if mounted is False or key in bound:
            continue
        out.append(
            (
                pod.handle,
                f"{pod.label} mounts the API token of ServiceAccount {pod.service_account}, "
                "which no Role binding needs: set automountServiceAccountToken: false on the pod",
            )
        )
    return out


def identity_matches(
    resources: Sequence[Planned], _cfg: Mapping[str, Any]
) -> list[tuple[Any, str]]:
    associations = []
    for _h, type_, props, names in resources:
        if type_ == POD_IDENTITY_ASSOCIATION:
            # The annotation holds the association's resource ID: a name offline, an output
            # (`id`, or the association's own ID with or without its cluster) at deployment.
            cluster, own = props.get("clusterName"), props.get("associationId")
            ids = {*names, str(props.get("id") or ""), str(own or ""), f"{cluster},{own}"} - {""}
            key = (str(props.get("namespace")), str(props.get("serviceAccount")))
            associations.append((key, ids))
    with_role = {key for key, _ids in associations}
    out = []
    for pod in pod_templates_of(resources):
        key = (pod.namespace, pod.service_account)
        named = (pod.metadata.get("annotations") or {}).get(POD_IDENTITY_ANNOTATION)
        if named is None:
            if key in with_role:
                out.append(
                    (
                        pod.handle,
                        f"{pod.label} runs under ServiceAccount {pod.service_account}, which "
                        "Pod Identity maps to an IAM role it does not declare: run it under its "
                        "own ServiceAccount (or declare its identity in its contract)",
                    )
                )
            continue
        matching = [k for k, ids in associations if str(named) in ids]
        if matching and key not in matching:
            (ns, account) = matching[0]
            out.append(
                (
                    pod.handle,
                    f"{pod.label} runs under ServiceAccount {pod.service_account}, but its "
                    f"identity is the association of {ns}/{account}: run it under {account}",
                )
            )
    return out


RULES = [
    Rule(
        "service-account-no-automount",
        "ServiceAccounts the stack creates do not mount their API token by default.",
        MANDATORY,
        (SERVICE_ACCOUNT,),
        _no_automount,
        controls=("CIS EKS 4.1.6",),
    ),
]

STACK_RULES = [
    StackRule(
        "service-account-token-only-where-needed",
        "A pod mounts an API token only when its ServiceAccount is bound to a Role; pods of the "
        "default ServiceAccount never do.",
        MANDATORY,
        token_only_where_needed,
        controls=("CIS EKS 4.1.5", "CIS EKS 4.1.6"),
    ),
    StackRule(
        "pod-identity-matches-service-account",
        "A pod runs under the ServiceAccount of the Pod Identity association it names, and "
        "under no ServiceAccount whose IAM role it does not declare.",
        MANDATORY,
        identity_matches,
    ),
]
