"""IAM policies the stack writes: no role gets every action, or every action of a service, on
every resource; and no role reaches every bucket, topic or key with data-plane actions.

The policy grammar followed is AWS's (IAM User Guide, "IAM JSON policy elements reference"):
Statement is one object or a list; Action/Resource are a string or a list; action names are
case-insensitive; an Allow with NotAction grants every other action and one with NotResource
every other resource, so both count as wildcards here.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping
from typing import Any

from .base import ADVISORY, MANDATORY, Rule
from .policy_docs import as_list, statements

ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
POLICY = "aws:iam/policy:Policy"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"  # roles: a list
# `*`, `service:*`, and the spellings that mean the same (`*:*`, `iam:**`, `s3:?*`): an action
# whose name part is made only of wildcards matches every action of its service.
SERVICE_WILDCARD = re.compile(r"^(\*|[a-z0-9*?-]+:[*?]*\*[*?]*)$", re.IGNORECASE)
# Two unrelated ARNs per partition: a Resource pattern that matches both of one partition covers
# every resource a stack there has (`*`, `arn:*`, `arn:aws:*:*:*:*`).
_ANY_ARNS = tuple(
    (f"arn:{p}:s3:::some-bucket/key", f"arn:{p}:iam::123456789012:role/x/y")
    for p in ("aws", "aws-cn", "aws-us-gov")
)


def _every_resource(pattern: str) -> bool:
    return any(all(fnmatch.fnmatchcase(arn, pattern) for arn in probes) for probes in _ANY_ARNS)


# AWS managed policies that grant `*` or `service:*` on `*` by design (AdministratorAccess,
# PowerUserAccess's NotAction, and the "<Service>FullAccess" family).
ADMIN_MANAGED = re.compile(
    r"^arn:aws[a-z-]*:iam::aws:policy/(.*/)?"
    r"(AdministratorAccess|PowerUserAccess|IAMFullAccess|\w*FullAccess)$"
)


def wildcard_grants(policy: Any) -> Iterator[str]:
    """What each Allow statement grants on every resource that is a wildcard action."""
    for label, st in statements(policy):
        if st.get("Effect") != "Allow":
            continue
        all_resources = "NotResource" in st or any(
            _every_resource(str(r)) for r in as_list(st.get("Resource"))
        )
        if not all_resources:
            continue
        if "NotAction" in st:
            yield f"{label} allows every action but {as_list(st['NotAction'])} (NotAction) on *"
            continue
        wild = [a for a in as_list(st.get("Action")) if SERVICE_WILDCARD.match(str(a))]
        if wild:
            yield f"{label} allows {wild} on *"


def _named_policies(type_: str, props: Mapping[str, Any]) -> Iterator[tuple[list[str], Any]]:
    """(names the allow-list may use: policy name, role name; policy document)."""
    if type_ == ROLE_POLICY:
        yield [str(n) for n in (props.get("name"), props.get("role")) if n], props.get("policy")
    elif type_ == POLICY:
        yield [str(props.get("name") or "")], props.get("policy")
    elif type_ == ROLE:
        for p in props.get("inlinePolicies") or []:
            names = [str(n) for n in (p.get("name"), props.get("name")) if n]
            yield names, p.get("policy")


def _wildcards(type_: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    allowed = set(cfg.get("wildcardAllowed") or [])
    fix = (
        "list the actions the role needs, or scope Resource to ARNs; if it truly needs them, "
        "add the policy or role name to this rule's wildcardAllowed"
    )
    out = []
    for names, doc in _named_policies(type_, props):
        if allowed & set(names):
            continue
        who = names[0] if names else "policy"
        out += [f"{who}: {grant}: {fix}" for grant in wildcard_grants(doc)]
    arns = (
        [props.get("policyArn")]
        if type_ in (ATTACHMENT, POLICY_ATTACHMENT)
        else as_list(props.get("managedPolicyArns"))
        if type_ == ROLE
        else []
    )
    roles = (
        [str(r) for r in as_list(props.get("roles"))]
        if type_ == POLICY_ATTACHMENT
        else [str(props.get("role") or props.get("name") or "")]
    )
    for arn in arns:
        for role in roles:
            if ADMIN_MANAGED.match(str(arn or "")) and role not in allowed:
                out.append(
                    f"role {role or '?'} gets {arn}, which allows a service's every "
                    f"action (or all) on *: {fix}"
                )
    return out


# Data-plane actions that read or write what a job or a service holds: S3 objects and listings,
# publishing to a topic, and KMS data keys. Granted on every resource of their service they reach
# every bucket, topic or key in reach, which is the scope a job identity must never have (the
# artifacts role: data/, checkpoints/, models/ of one bucket; the watcher: one topic and key).
DATA_ACTIONS = {
    "s3": ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"),
    "sns": ("sns:Publish",),
    "kms": ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom"),
}
# Two unrelated resources of each service, per partition: a Resource pattern that matches both
# reaches every bucket (object), topic or key there.
_ANY_OF_SERVICE = {
    "s3": ("arn:{p}:s3:::some-bucket/key", "arn:{p}:s3:::other-bucket/a/b"),
    "sns": ("arn:{p}:sns:us-west-2:111111111111:a", "arn:{p}:sns:eu-west-1:222222222222:b"),
    "kms": ("arn:{p}:kms:us-west-2:111111111111:key/a", "arn:{p}:kms:eu-west-1:2:alias/b"),
}


def _granted(actions: list[str]) -> dict[str, list[str]]:
    """service -> the action patterns of `actions` that cover one of its data actions."""
    out: dict[str, list[str]] = {}
    for pattern in actions:
        for service, names in DATA_ACTIONS.items():
            if any(fnmatch.fnmatchcase(n.lower(), pattern.lower()) for n in names):
                out.setdefault(service, []).append(pattern)
    return out


def _reaches_every(service: str, resource: str) -> bool:
    return any(
        all(fnmatch.fnmatchcase(arn.format(p=p), resource) for arn in _ANY_OF_SERVICE[service])
        for p in ("aws", "aws-cn", "aws-us-gov")
    )


def data_access_on_every_resource(policy: Any) -> Iterator[str]:
    """Each Allow statement that grants a data-plane action on every resource of its service."""
    for label, st in statements(policy):
        if st.get("Effect") != "Allow" or "NotAction" in st:
            continue  # NotAction on `*` is iam-no-wildcard-grants' finding already
        resources = [str(r) for r in as_list(st.get("Resource"))]
        for service, actions in _granted([str(a) for a in as_list(st.get("Action"))]).items():
            if "NotResource" in st or any(_reaches_every(service, r) for r in resources):
                yield f"{label} allows {actions} on every {service} resource"


def _data_scope(type_: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    allowed = set(cfg.get("unscopedAllowed") or [])
    out = []
    for names, doc in _named_policies(type_, props):
        if allowed & set(names):
            continue
        who = names[0] if names else "policy"
        out += [
            f"{who}: {grant}: name the bucket/prefix, topic or key ARNs it needs (or add the "
            "policy or role name to this rule's unscopedAllowed)"
            for grant in data_access_on_every_resource(doc)
        ]
    return out


# A Resource naming every role: `*`, or a role ARN whose name part is only wildcards.
_EVERY_ROLE = re.compile(r"^(\*|arn:[^:]*:iam::[^:]*:role/[*?/]*\*)$")


def _passrole(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    # iam:PassRole on every role lets the holder start an instance, build or task as any role of
    # the account, admin roles included (IAM User Guide, "Grant a user permissions to pass a
    # role to an AWS service").
    out = []
    for names, doc in _named_policies(type_, props):
        who = names[0] if names else "policy"
        for label, st in statements(doc):
            if st.get("Effect") != "Allow" or "NotAction" in st:
                continue
            acts = [str(a) for a in as_list(st.get("Action"))]
            if not any(fnmatch.fnmatchcase("iam:passrole", a.lower()) for a in acts):
                continue
            if "NotResource" in st or any(
                _EVERY_ROLE.match(str(r)) for r in as_list(st.get("Resource"))
            ):
                out.append(
                    f"{who}: {label} allows iam:PassRole on every "
                    "role: name the role ARNs it passes (and an iam:PassedToService condition)"
                )
    return out


def _service_wildcards(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    # FSBP IAM.21: a `service:*` action in an Allow, whatever its Resource.
    out = []
    for names, doc in _named_policies(type_, props):
        who = names[0] if names else "policy"
        for label, st in statements(doc):
            if st.get("Effect") != "Allow":
                continue
            wild = [a for a in as_list(st.get("Action")) if SERVICE_WILDCARD.match(str(a))]
            if wild:
                out.append(f"{who}: {label} allows {wild}: list the actions the role needs")
    return out


RULES = [
    Rule(
        "iam-no-wildcard-grants",
        "No role gets `*` or `service:*` on Resource `*` unless "
        "allow-listed by policy or role name.",
        MANDATORY,
        (ROLE_POLICY, POLICY, ROLE, ATTACHMENT, POLICY_ATTACHMENT),
        _wildcards,
        {"wildcardAllowed": {"type": "array", "items": {"type": "string"}, "default": []}},
        controls=("FSBP IAM.1",),
    ),
    Rule(
        "iam-data-access-scoped",
        "No role reads or writes S3 objects, publishes to SNS or uses KMS data keys on Resource "
        "`*`: a job's identity names its bucket prefixes, topic and key.",
        MANDATORY,
        (ROLE_POLICY, POLICY, ROLE),
        _data_scope,
        {"unscopedAllowed": {"type": "array", "items": {"type": "string"}, "default": []}},
        controls=("FSBP KMS.1", "FSBP KMS.2"),
    ),
    Rule(
        "iam-passrole-scoped",
        "No role may pass every role (iam:PassRole on Resource `*`).",
        MANDATORY,
        (ROLE_POLICY, POLICY, ROLE),
        _passrole,
    ),
    # Advisory: FSBP rates IAM.21 LOW; a `service:*` scoped to one resource is
    # iam-no-wildcard-grants' business only when that resource is `*`.
    Rule(
        "iam-no-service-wildcard-actions",
        "IAM policies list actions instead of granting `service:*`.",
        ADVISORY,
        (ROLE_POLICY, POLICY, ROLE),
        _service_wildcards,
        controls=("FSBP IAM.21",),
    ),
]
