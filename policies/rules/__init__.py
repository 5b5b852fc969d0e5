"""Every policy rule of the platform, as pure functions: `rule(type, props) -> [messages]`.

Kept free of pulumi_policy so the same rules run in the policy pack (policies/__main__.py), over
the offline plan (policies.check_plan) and in unit tests.
"""

from __future__ import annotations

from . import (
    addon_config,
    aws,
    bucket_protection,
    ecr,
    eks,
    helm_values,
    iam,
    identity_bindings,
    messaging,
    namespaces,
    network,
    network_policies,
    nodes,
    operator_config,
    pod_security,
    pods,
    rbac,
    resource_policies,
    root_step,
    secrets,
    service_accounts,
    services,
    storage,
    tags,
    tls,
    trainjobs,
    trust,
    volumes,
)
from .base import ADVISORY, MANDATORY, Rule, StackRule

ALL_RULES: list[Rule] = [
    *eks.RULES,
    *ecr.RULES,
    *nodes.RULES,
    *pod_security.RULES,
    *root_step.RULES,
    *pods.RULES,
    *iam.RULES,
    *storage.RULES,
    *aws.RULES,
    *tags.RULES,
    # Kubernetes objects beyond pods (the hardening table's KUBERNETES section).
    *namespaces.RULES,
    *network_policies.RULES,
    *rbac.RULES,
    *service_accounts.RULES,
    *services.RULES,
    *secrets.RULES,
    *volumes.RULES,
    *operator_config.RULES,
    *helm_values.RULES,
    # AWS resource policies, trust, identity bindings, the VPC and messaging (the AWS section).
    *tls.RULES,
    *resource_policies.RULES,
    *trust.RULES,
    *identity_bindings.RULES,
    *addon_config.RULES,
    *network.RULES,
    *messaging.RULES,
]
BY_NAME: dict[str, Rule] = {r.name: r for r in ALL_RULES}
# Rules over the whole stack at once (what no single resource shows).
STACK_RULES: list[StackRule] = [
    *bucket_protection.STACK_RULES,
    *namespaces.STACK_RULES,
    *network_policies.STACK_RULES,
    *service_accounts.STACK_RULES,
    *volumes.STACK_RULES,
    *tls.STACK_RULES,
    *identity_bindings.STACK_RULES,
    *network.STACK_RULES,
    *trainjobs.STACK_RULES,
    *messaging.STACK_RULES,
    *ecr.STACK_RULES,
]
STACK_BY_NAME: dict[str, StackRule] = {r.name: r for r in STACK_RULES}
assert len(BY_NAME) == len(ALL_RULES), "rule names must be unique"
assert not set(BY_NAME) & set(STACK_BY_NAME), "rule names must be unique"

__all__ = [
    "ADVISORY",
    "ALL_RULES",
    "BY_NAME",
    "MANDATORY",
    "STACK_BY_NAME",
    "STACK_RULES",
    "Rule",
    "StackRule",
]
