"""The checks several config sections share, each written once so its message reads the same
wherever it fires: a name that must be a DNS label, a name that must be one of a known set,
a CloudWatch log retention, and node labels from config.

Each returns the problems as lines naming the config key and what is allowed (empty: fine).
"""

from __future__ import annotations

from collections.abc import Iterable

from policies.required import MIN_LOG_RETENTION_DAYS

from .. import k8s_names
from .base import STACK_LABELS, key

# CloudWatch Logs PutRetentionPolicy `retentionInDays`: the values the API accepts.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

# Label domains (and their subdomains) no node label from config may use, with who refuses them.
_K8S_RESERVED = (
    'reserved for Kubernetes; EKS CreateNodegroup refuses it ("Label cannot contain '
    "reserved prefixes\") and the kubelet's NodeRestriction admission limits it"
)
RESERVED_LABEL_DOMAINS = {
    "kubernetes.io": _K8S_RESERVED,
    "k8s.io": _K8S_RESERVED,
    "eks.amazonaws.com": "reserved for EKS; CreateNodegroup refuses it",
    # Karpenter v1.14.1 pkg/apis/crds/karpenter.sh_nodepools.yaml, template.metadata.labels rules.
    "karpenter.sh": "restricted by Karpenter (NodePool CRD validation); Karpenter sets it",
    "karpenter.k8s.aws": "restricted by Karpenter (NodePool CRD validation); Karpenter sets it",
}


def dns_name(
    path: tuple, name: str, *, max_len: int = k8s_names.LABEL_MAX, why: str = ""
) -> list[str]:
    """`name`, the last part of `path` (a pool, volume or job), becomes Kubernetes object names
    and labels: an RFC 1123 label (k8s_names.dns1123_label) of at most `max_len` characters."""
    if not k8s_names.dns1123_label(name) and len(name) <= max_len:
        return []
    return [
        f"{key(*path)}: name {name!r} must be a DNS label (lowercase letters, digits, '-'; "
        f"at most {max_len} characters{'; ' + why if why else ''})"
    ]


def not_in(
    where: str, value: object, known: Iterable[str], *, problem: str, among: str = ""
) -> str:
    """`<key> = <value>: <problem>; known: a, b (<among>)`: a reference to a name defined
    elsewhere in the stack (a pool, a volume) or in a table (a region)."""
    names = ", ".join(sorted(known)) or "(none)"
    return f"{where} = {value!r}: {problem}; known: {names}" + (f" ({among})" if among else "")


def log_retention(path: tuple, days: int) -> list[str]:
    """A value CloudWatch accepts and the policy pack's log-group-min-retention does too."""
    allowed = [d for d in LOG_RETENTION_DAYS if d >= MIN_LOG_RETENTION_DAYS]
    if days in allowed:
        return []
    return [
        f"{key(*path)} = {days}: allowed {', '.join(map(str, allowed))} (CloudWatch's values "
        f"from the policy pack's minimum of {MIN_LOG_RETENTION_DAYS} days)"
    ]


def node_labels(path: tuple, labels: dict[str, str]) -> list[str]:
    """Node labels from config: Kubernetes syntax, no reserved domain, none of the stack's keys."""
    where = key(*path, "labels")
    issues = []
    for k, v in labels.items():
        problem = k8s_names.qualified_name(k)
        if problem:
            issues.append(f"{where}: {k!r}: not a Kubernetes label key: {problem}")
            continue
        reserved = next((d for d in RESERVED_LABEL_DOMAINS if k8s_names.in_domain(k, d)), None)
        if reserved:
            issues.append(
                f"{where}: {k!r}: the {reserved!r} domain is "
                f"{RESERVED_LABEL_DOMAINS[reserved]}; use your own prefix, e.g. "
                f"'example.com/{k.rpartition('/')[2]}'"
            )
        elif k in STACK_LABELS:
            issues.append(
                f"{where}: {k!r}: one of the stack's own node labels "
                f"({', '.join(STACK_LABELS)}), which jobs and device plugins select on; "
                "the stack sets it, choose another key"
            )
        elif problem := k8s_names.label_value(v):
            issues.append(f"{where}: {k!r} = {v!r}: not a Kubernetes label value: {problem}")
    return issues


def unknown_pool(where: str, value: object, pools: Iterable[str]) -> str:
    return not_in(
        where,
        value,
        pools,
        problem="no such GPU pool",
        among="karpenter.nodePools and GPU nodeGroups",
    )


def unknown_volume(where: str, value: object, volumes: Iterable[str]) -> str:
    return not_in(where, value, volumes, problem="no such volume", among=key("volumes"))


def hf_token_secret(path: tuple, wanted: bool, secrets: Iterable[str]) -> list[str]:
    """A job or server asking for the stack's Hugging Face token (`hfToken: true`) in a stack
    that has none."""
    if not wanted or "hfToken" in secrets:
        return []
    return [
        f"{key(*path, 'hfToken')} = true: no token; run `pulumi config set --secret "
        "trainstack:hfToken hf_...`"
    ]
