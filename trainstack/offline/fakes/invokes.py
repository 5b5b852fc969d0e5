"""Invokes and method calls answered by the mock engine: every data source the program reads.

Each token is answered explicitly and an unknown one raises: the SDK's default answer, ``{}``,
silently turns a data source into ``None`` (docs/offline-testing.md).
"""

from __future__ import annotations

import json
from typing import Any

from ..secrets import unwrap_secrets
from .eks import ClusterFacts, kubeconfig
from .policy_document import build_policy_document
from .values import ACCOUNT_ID, as_list, hex_digest, zone_id_prefix


class OfflineMockError(Exception):
    """The mock engine was asked something it has no answer for (e.g. an unknown invoke)."""


def answer(
    token: str,
    args: dict[str, Any],
    *,
    stack_region: str,
    az_names: list[str],
    clusters: dict[str, ClusterFacts],
) -> dict:
    """What the invoke or method call ``token`` returns for ``args`` in ``stack_region``."""
    a = unwrap_secrets(args or {})
    region = a.get("region") or stack_region
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {
            "accountId": ACCOUNT_ID,
            "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/offline",
            "userId": "AIDAOFFLINEOFFLINE0000",
            "id": ACCOUNT_ID,
        }
    if token == "aws:index/getRegion:getRegion":
        name = a.get("region") or a.get("name") or stack_region
        return {
            "name": name,
            "region": name,
            "id": name,
            "description": f"offline region {name}",
            "endpoint": f"ec2.{name}.amazonaws.com",
        }
    if token == "aws:index/getRegions:getRegions":
        names = sorted({stack_region, "us-east-1", "us-east-2", "us-west-2", "eu-west-1"})
        return {"names": names, "id": "aws", "allRegions": bool(a.get("allRegions"))}
    if token == "aws:index/getPartition:getPartition":
        return {
            "partition": "aws",
            "dnsSuffix": "amazonaws.com",
            "reverseDnsPrefix": "com.amazonaws",
            "id": "aws",
        }
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        excluded = set(as_list(a.get("excludeNames")))
        names = [n for n in az_names if n not in excluded]
        prefix = zone_id_prefix(region)
        zone_ids = [f"{prefix}-az{az_names.index(n) + 1}" for n in names]
        return {
            "names": names,
            "zoneIds": zone_ids,
            "groupNames": [region] * len(names),
            "id": region,
            "region": region,
            "state": a.get("state") or "available",
        }
    if token == "aws:iam/getPolicyDocument:getPolicyDocument":
        return build_policy_document(a)
    if token == "aws:ssm/getParameter:getParameter":
        name = a.get("name") or ""
        if "image_id" in name or "/ami" in name or "optimized-ami" in name:
            value = "ami-0" + hex_digest(name, length=16)
        elif "release_version" in name:
            value = "1.34.0-20260101"
        else:
            value = f"offline-ssm-{name.strip('/').replace('/', '-') or 'value'}"
        return {
            "name": name,
            "value": value,
            "insecureValue": value,
            "type": "String",
            "version": 1,
            "arn": f"arn:aws:ssm:{region}:{ACCOUNT_ID}:parameter/{name.lstrip('/')}",
            "id": name,
            "region": region,
            "withDecryption": bool(a.get("withDecryption", True)),
        }
    if token == "eks:index:Cluster/getKubeconfig":
        me = a.get("__self__")
        facts = clusters.get(me) if isinstance(me, str) else None
        if facts is None:
            raise OfflineMockError(f"{token}: unknown cluster {me!r}")
        st = facts["state"]
        kc = kubeconfig(
            facts["name"],
            st["endpoint"],
            st["certificateAuthority"]["data"],
            stack_region,
            profile=a.get("profileName"),
            role_arn=a.get("roleArn"),
        )
        return {"result": json.dumps(kc)}
    raise OfflineMockError(
        f"offline mock has no answer for invoke {token!r} (args: {sorted(a)}); "
        "add it to trainstack/offline/fakes/invokes.py"
    )
