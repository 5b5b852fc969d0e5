"""Weakenings of Kubernetes inputs the hardening table uses (policies/hardening/, KUBERNETES):
each returns the weakened value, or UNCHANGED where it does not apply. Pure, like mutate.py."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..mutate import UNCHANGED, Weaken

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def merged(
    label: str, patch: Mapping[str, Any], when: Callable[[Any], bool] | None = None
) -> Weaken:
    """Keys of `patch` set on a mapping (a pod spec gaining hostNetwork, values gaining
    hostNetwork), where `when` picks it."""

    def apply(v: Any) -> Any:
        if not isinstance(v, Mapping) or (when is not None and not when(v)):
            return UNCHANGED
        new = {**v, **patch}
        return new if new != v else UNCHANGED

    return Weaken(label, apply)


def appended(label: str, item: Any) -> Weaken:
    """`item` added to a list (a hostPath volume, a wider RBAC rule, a Group subject)."""
    return Weaken(label, lambda v: [*v, item] if isinstance(v, list) else UNCHANGED)


def replaced_text(label: str, old: str, new: str) -> Weaken:
    def apply(v: Any) -> Any:
        return v.replace(old, new) if isinstance(v, str) and old in v else UNCHANGED

    return Weaken(label, apply)


# A workload moved to another ServiceAccount of the stack: the job identity to the watcher's (a
# Role and an SNS publisher), the others to the jobs' (S3 and KMS access).
_OTHER_ACCOUNT = {"training": "jobwatch", "jobwatch": "training", "training-serving": "training"}


def _other_account(spec: Any) -> Any:
    if not isinstance(spec, Mapping) or not spec.get("serviceAccountName"):
        return UNCHANGED
    current = spec["serviceAccountName"]
    return {**spec, "serviceAccountName": _OTHER_ACCOUNT.get(current, "training")}


def _onto_job_account(spec: Any) -> Any:
    if not isinstance(spec, Mapping) or spec.get("serviceAccountName"):
        return UNCHANGED
    return {**spec, "serviceAccountName": "training"}


OTHER_SERVICE_ACCOUNT = Weaken("run under another ServiceAccount", _other_account)
# A pod of the namespace's default account moved onto the jobs' identity.
ONTO_JOB_ACCOUNT = Weaken("run under the jobs' ServiceAccount", _onto_job_account)


def _delete_unnamed(rule: Any) -> Any:
    if not isinstance(rule, Mapping) or rule.get("resourceNames"):
        return UNCHANGED
    verbs = list(rule.get("verbs") or [])
    return UNCHANGED if "delete" in verbs else {**rule, "verbs": [*verbs, "delete"]}


# A Role rule that reads every object of its resources made to delete them too.
DELETE_ANY = Weaken("delete every object", _delete_unnamed)


def _by_tag(image: Any) -> Any:
    if not isinstance(image, str) or not DIGEST.search(image):
        return UNCHANGED
    return DIGEST.sub(":latest", image)


IMAGE_BY_TAG = Weaken("image by tag", _by_tag)
IMAGE_FROM_DOCKER_HUB = Weaken(
    "image from Docker Hub",
    lambda v: "docker.io/library/python@sha256:" + "0" * 64 if isinstance(v, str) else UNCHANGED,
)


def _literal(entry: Any) -> Any:
    if not isinstance(entry, Mapping) or "secretKeyRef" not in (entry.get("valueFrom") or {}):
        return UNCHANGED
    return {"name": entry.get("name"), "value": "hf_0123456789abcdefghijklmnopqrstuv"}


SECRET_AS_LITERAL = Weaken("secret as a literal value", _literal)


def _without_ports(pick: Callable[[Mapping[str, Any]], bool]) -> Callable[[Any], Any]:
    def apply(rule: Any) -> Any:
        if not isinstance(rule, Mapping) or not rule.get("ports") or not pick(rule):
            return UNCHANGED
        return {k: v for k, v in rule.items() if k != "ports"}

    return apply


# Egress to an address block on every port; ingress open to everyone on every port.
ADDRESS_RULE_ALL_PORTS = Weaken(
    "address-block rule on every port",
    _without_ports(lambda r: any("ipBlock" in p for p in r.get("to") or [])),
)
OPEN_RULE_ALL_PORTS = Weaken("open rule on every port", _without_ports(lambda r: not r.get("from")))


def _host_path_pv(spec: Any) -> Any:
    if not isinstance(spec, Mapping) or "hostPath" in spec:
        return UNCHANGED
    sources = ("csi", "nfs", "awsElasticBlockStore")
    kept = {k: v for k, v in spec.items() if k not in sources}
    return {**kept, "hostPath": {"path": "/"}}


HOST_PATH_PV = Weaken("a hostPath volume", _host_path_pv)
