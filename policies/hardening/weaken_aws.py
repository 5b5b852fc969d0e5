"""How the AWS entries of the hardening table (policies/hardening/) weaken a value, and which
values they pick: pure functions over one input (a policy statement, a security-group rule, an
environment list), so the table reads as type, path, weakening, rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..mutate import UNCHANGED, Weaken
from ..rules import policy_docs as pd
from ..rules.iam import DATA_ACTIONS

WORLD = ["0.0.0.0/0"]
OTHER_ACCOUNT = "999999999999"
OTHER_ROOT = f"arn:aws:iam::{OTHER_ACCOUNT}:root"


# --- which policy statements an entry weakens --------------------------------------------------
def tls_deny(st: Any) -> bool:
    return (
        isinstance(st, Mapping)
        and st.get("Effect") == "Deny"
        and any(key == "aws:securetransport" for _op, key, _v in pd.conditions(st))
    )


def allow_to_everyone(st: Any) -> bool:
    return isinstance(st, Mapping) and pd.allows(st) and pd.names_everyone(st)


def allow_to_service(st: Any) -> bool:
    return isinstance(st, Mapping) and pd.allows(st) and bool(pd.principals(st).get("Service"))


def unconditioned_allow(st: Any) -> bool:
    return isinstance(st, Mapping) and pd.allows(st) and "Condition" not in st


def with_condition(st: Any) -> bool:
    return isinstance(st, Mapping) and pd.allows(st) and "Condition" in st


def data_access(st: Any) -> bool:
    if not (isinstance(st, Mapping) and pd.allows(st)):
        return False
    acts = pd.action_patterns(st)
    return any(pd.covers(acts, a) for names in DATA_ACTIONS.values() for a in names)


def passes_roles(st: Any) -> bool:
    return (
        isinstance(st, Mapping)
        and pd.allows(st)
        and pd.covers(pd.action_patterns(st), "iam:PassRole")
    )


# --- how a statement, a rule or a list is weakened ---------------------------------------------
def _edit(label: str, change: dict[str, Any]) -> Weaken:
    return Weaken(label, lambda st: {**st, **change} if isinstance(st, Mapping) else UNCHANGED)


DROP_CONDITION = Weaken(
    "drop the condition",
    lambda st: (
        {k: v for k, v in st.items() if k != "Condition"}
        if isinstance(st, Mapping) and "Condition" in st
        else UNCHANGED
    ),
)
EVERYONE = _edit('principal "*"', {"Principal": "*"})
ANY_ACTION_ANYWHERE = _edit('Action "*" on Resource "*"', {"Action": "*", "Resource": "*"})
EVERY_RESOURCE = _edit('Resource "*"', {"Resource": "*"})
OPEN_TO_INTERNET = _edit("admit 0.0.0.0/0", {"cidrBlocks": WORLD})
PUBLIC_IP = _edit("associate a public IP", {"associatePublicIpAddress": "true"})
PUBLIC_IP_KARPENTER = _edit("associate public IPs", {"associatePublicIPAddress": True})

# The TLS Deny narrowed to one action of its service, which leaves the others open over HTTP.
_ONE_ACTION = {"s3": "s3:GetObject", "sqs": "sqs:ReceiveMessage", "sns": "sns:Subscribe"}


def _narrow(st: Any) -> Any:
    acts = pd.action_patterns(st) if isinstance(st, Mapping) else []
    service = acts[0].split(":")[0].lower() if acts else ""
    return {**st, "Action": _ONE_ACTION[service]} if service in _ONE_ACTION else UNCHANGED


NARROW_ACTION = Weaken("deny one action only", _narrow)


def _append(label: str, item: Any) -> Weaken:
    return Weaken(label, lambda v: [*v, item] if isinstance(v, list) else UNCHANGED)


GRANT_OTHER_ACCOUNT = _append(
    "grant another account",
    {
        "Effect": "Allow",
        "Principal": {"AWS": OTHER_ROOT},
        "Action": "s3:GetObject",
        "Resource": "*",
    },
)
WORLD_RULE = _append(
    "admit the internet", {"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": WORLD}
)
PLAINTEXT_SECRET = _append(
    "a credential in plain text",
    {"name": "DOCKER_HUB_TOKEN", "value": "dckr_pat_x", "type": "PLAINTEXT"},
)
