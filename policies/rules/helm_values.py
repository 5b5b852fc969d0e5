"""What the pack can see of the objects the stack installs without rendering them: a Helm
release's chart, version, repository, namespace and values, and a kustomize directory's source.
The templates, CRDs and RBAC those render are not in the plan; these rules hold the visible part:
each is pinned to a reviewed version fetched over TLS, the device plugins stay in kube-system
(the one namespace whose pods may be privileged, policies/rules/pod_security.py), and no value
the stack sets turns on host access or root.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .base import MANDATORY, Rule, truthy
from .kube import HELM_RELEASE, KUSTOMIZE_DIRECTORY

# A chart version as Helm resolves it exactly (semver, no range).
EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$")
COMMIT = re.compile(r"^[0-9a-f]{40}$")
# The device plugins' charts (components/gpu.py): privileged DaemonSets by design.
DEVICE_PLUGIN_CHARTS = ("nvidia-device-plugin", "aws-efa-k8s-device-plugin")
DEVICE_PLUGIN_NAMESPACE = "kube-system"
# Chart values that give pods host access or root, under the names charts use for them.
HOST_ACCESS_KEYS = (
    "privileged",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "enableHostNetwork",
    "enableHostPID",
    "allowPrivilegeEscalation",
)
# nvidia-device-plugin v0.20.0 (deployments/helm/nvidia-device-plugin values.yaml, Chart.yaml):
# gpu-feature-discovery runs privileged and pulls in node-feature-discovery (a DaemonSet with
# host mounts and a cluster-wide master); the stack labels GPU nodes itself, so both stay off.
NVIDIA_OFF = ("gfd.enabled", "nfd.enabled")


def _chart(props: Mapping[str, Any]) -> str:
    return str(props.get("chart") or "").rsplit("/", 1)[-1]


def _pinned(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    out = []
    chart = str(props.get("chart") or "")
    version = props.get("version")
    if not EXACT_VERSION.match(str(version or "")):
        out.append(
            f"Helm release of {chart} takes version {version!r}: pin the exact chart version "
            "the stack was reviewed with (components/versions.py)"
        )
    repo = str((props.get("repositoryOpts") or {}).get("repo") or "")
    source = repo or chart
    if "://" in source and not source.startswith(("https://", "oci://")):
        out.append(
            f"Helm release of {chart} is fetched from {source} without TLS: use the chart's "
            "https:// repository or oci:// registry"
        )
    return out


def _walk(values: Any, at: str = "values") -> Iterator[tuple[str, str, Any]]:
    if isinstance(values, Mapping):
        for k, v in values.items():
            yield f"{at}.{k}", str(k), v
            yield from _walk(v, f"{at}.{k}")
    elif isinstance(values, list):
        for i, v in enumerate(values):
            yield from _walk(v, f"{at}[{i}]")


def _values(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    chart = _chart(props)
    values = props.get("values") or {}
    out = []
    for at, key, v in _walk(values):
        risky = (
            (key in HOST_ACCESS_KEYS and truthy(v))
            or (key == "runAsNonRoot" and v is False)
            or (key == "runAsUser" and str(v) in ("0", "0.0"))
        )
        if risky:
            out.append(
                f"Helm release of {chart} sets {at}: {v}: drop it; the chart's pods get no host "
                "access or root from the stack's values"
            )
    if chart == "nvidia-device-plugin":
        for path in NVIDIA_OFF:
            node: Any = values
            for part in path.split("."):
                node = node.get(part) if isinstance(node, Mapping) else None
            if truthy(node):
                out.append(
                    f"nvidia-device-plugin sets values.{path}: true, adding privileged "
                    "feature-discovery DaemonSets: keep it false (the stack labels GPU nodes)"
                )
    if chart in DEVICE_PLUGIN_CHARTS and props.get("namespace") != DEVICE_PLUGIN_NAMESPACE:
        out.append(
            f"{chart} installs into namespace {props.get('namespace')}: install it into "
            f"{DEVICE_PLUGIN_NAMESPACE}, the only namespace whose device plugins may be privileged"
        )
    return out


def _kustomize(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    source = str(props.get("directory") or "")
    if "://" not in source and not source.startswith(("github.com/", "git@")):
        return []  # a directory of this repository, reviewed with it
    parts = urlsplit(source)
    out = []
    if parts.scheme != "https":
        out.append(f"kustomize source {source} is not fetched over https: use its https:// URL")
    ref = (parse_qs(parts.query).get("ref") or [""])[0]
    if not (EXACT_VERSION.match(ref) or COMMIT.match(ref)):
        out.append(
            f"kustomize source {source} follows {ref or 'the default branch'}: pin it with "
            "?ref=<release tag or commit>"
        )
    return out


RULES = [
    Rule(
        "helm-release-pinned",
        "Helm releases pin an exact chart version fetched over TLS.",
        MANDATORY,
        (HELM_RELEASE,),
        _pinned,
    ),
    Rule(
        "helm-release-values-hardened",
        "Helm values grant no host access or root, keep nvidia's feature discovery off, and "
        "device plugins install into kube-system.",
        MANDATORY,
        (HELM_RELEASE,),
        _values,
    ),
    Rule(
        "kustomize-remote-pinned",
        "A remote kustomize directory is fetched over https at a release tag or commit.",
        MANDATORY,
        (KUSTOMIZE_DIRECTORY,),
        _kustomize,
    ),
]
