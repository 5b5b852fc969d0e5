"""Building blocks of fake values: the account and region, deterministic ids, name shapes."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-west-2"


def hex_digest(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:length]


def fake_uuid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "\x00".join(parts)))


def kebab(camel: str) -> str:
    out = []
    for ch in camel:
        if ch.isupper():
            if out:
                out.append("-")
            out.append(ch.lower())
        else:
            out.append(ch)
    return "".join(out)


def zone_id_prefix(region: str) -> str:
    parts = region.split("-")
    if len(parts) >= 3:
        return parts[0] + "".join(p[0] for p in parts[1:-1]) + parts[-1]
    return region.replace("-", "")


def as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def one_or_list(values: list) -> Any:
    return values[0] if len(values) == 1 else values
