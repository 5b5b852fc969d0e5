"""Kubernetes name and label syntax, as the API server checks it.

One definition for the config checks (components/config/) and the offline schema validator
(trainstack/offline/schemas/metadata.py). Follows k8s.io/apimachinery
pkg/util/validation/validation.go (IsDNS1123Label, IsDNS1123Subdomain, IsDNS1035Label,
IsQualifiedName, IsValidLabelValue; newer releases keep the last two in
pkg/api/validate/content): each helper returns what is wrong, or None.
"""

from __future__ import annotations

import re

DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
LABEL_MAX = 63
SUBDOMAIN_MAX = 253


def dns1123_subdomain(v: str) -> str | None:
    if len(v) > SUBDOMAIN_MAX or not DNS1123_SUBDOMAIN.fullmatch(v):
        return "must be a lowercase RFC 1123 subdomain (a-z, 0-9, '-', '.', at most 253 characters)"
    return None


def dns1123_label(v: str) -> str | None:
    if len(v) > LABEL_MAX or not DNS1123_LABEL.fullmatch(v):
        return "must be a lowercase RFC 1123 label (a-z, 0-9, '-', at most 63 characters)"
    return None


def dns1035_label(v: str) -> str | None:
    if len(v) > LABEL_MAX or not DNS1035_LABEL.fullmatch(v):
        return (
            "must be an RFC 1035 label (a-z, 0-9, '-', starting with a letter, at most 63 "
            "characters)"
        )
    return None


def qualified_name(key: str) -> str | None:
    """A label or annotation key: `[prefix/]name`, the prefix a DNS subdomain."""
    parts = key.split("/")
    if len(parts) > 2 or not key:
        return "must be a qualified name ([prefix/]name)"
    if len(parts) == 2:
        if not parts[0]:
            return "prefix part must be non-empty"
        if dns1123_subdomain(parts[0]):
            return "prefix part must be a lowercase RFC 1123 subdomain"
    name = parts[-1]
    if len(name) > LABEL_MAX or not QUALIFIED_NAME.fullmatch(name):
        return (
            "name part must be at most 63 characters of alphanumerics, '-', '_' or '.', "
            "starting and ending with an alphanumeric"
        )
    return None


def label_value(value: str) -> str | None:
    if value == "":
        return None
    if len(value) > LABEL_MAX or not QUALIFIED_NAME.fullmatch(value):
        return (
            "must be empty or at most 63 characters of alphanumerics, '-', '_' or '.', "
            "starting and ending with an alphanumeric"
        )
    return None


def key_domain(key: str) -> str:
    """The prefix of a label key (`node.kubernetes.io/x` -> `node.kubernetes.io`), or ''."""
    prefix, sep, _ = key.partition("/")
    return prefix if sep else ""


def in_domain(key: str, domain: str) -> bool:
    """Whether a label key's prefix is `domain` or one of its subdomains."""
    prefix = key_domain(key)
    return prefix == domain or prefix.endswith("." + domain)
