"""Where credentials live: in Secrets (envelope-encrypted with the cluster's KMS key,
eks-secrets-encrypted), never in ConfigMaps, and no Secret the stack creates is a long-lived
ServiceAccount token.

A Secret of type kubernetes.io/service-account-token gets a token that never expires for the
ServiceAccount its annotation names (kubernetes/website content/en/docs/concepts/configuration/
secret.md, "ServiceAccount token Secrets"); pods get short-lived projected tokens instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .base import MANDATORY, Rule, name_of, secret_named
from .kube import CONFIG_MAP, SECRET

# Credentials recognisable by their shape: AWS access key IDs, PEM private keys, Hugging Face
# tokens.
CREDENTIAL_VALUES = re.compile(
    r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b|-----BEGIN [A-Z ]*PRIVATE KEY-----|\bhf_[A-Za-z0-9]{30,}\b"
)
SA_TOKEN_TYPE = "kubernetes.io/service-account-token"


def _configmap(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    name = name_of(props)
    out = []
    for field in ("data", "binaryData"):
        for key, value in (props.get(field) or {}).items():
            if secret_named(str(key)) or CREDENTIAL_VALUES.search(str(value)):
                out.append(
                    f"ConfigMap {name} {field}.{key} holds a credential: move it to a Secret "
                    "(encrypted with the cluster's KMS key) and mount that"
                )
    return out


def _secret_type(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    if props.get("type") != SA_TOKEN_TYPE:
        return []
    return [
        f"Secret {name_of(props)} is a ServiceAccount token that never expires: remove it; pods "
        "get short-lived projected tokens when they need the API"
    ]


RULES = [
    Rule(
        "configmap-no-credentials",
        "ConfigMaps hold no credentials.",
        MANDATORY,
        (CONFIG_MAP,),
        _configmap,
    ),
    Rule(
        "secret-no-service-account-token",
        "No Secret the stack creates is a long-lived ServiceAccount token.",
        MANDATORY,
        (SECRET,),
        _secret_type,
    ),
]
