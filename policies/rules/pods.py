"""Pods the stack runs itself (training jobs, the dev pod, any workload): least privilege,
well-formed GPU requests, pinned images, no credentials in plain text."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .base import GPU, MANDATORY, Rule, containers, get, name_of, pod_specs, secret_named

JOBS = ("kubernetes:kubeflow.org/v1:PyTorchJob", "kubernetes:ray.io/v1:RayJob",
        "kubernetes:core/v1:Pod")
WORKLOADS = JOBS + ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:DaemonSet",
                    "kubernetes:apps/v1:StatefulSet", "kubernetes:batch/v1:Job")
ECR = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")

# Device plugins (installed by Helm, so normally never seen here) are the only pods that need
# host access; more names can be allowed through the policy config.
ALLOW_SCHEMA = {"privilegedAllowed": {
    "type": "array", "items": {"type": "string"},
    "default": ["nvidia-device-plugin", "aws-efa-k8s-device-plugin", "efa-device-plugin"]}}


def _allowed(props: Mapping[str, Any], cfg: Mapping[str, Any]) -> bool:
    return name_of(props) in cfg.get("privilegedAllowed", [])


def _privileged(_t: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    if _allowed(props, cfg):
        return []
    out = []
    for where, c in containers(props):
        sc = c.get("securityContext") or {}
        if sc.get("privileged") is True or "SYS_ADMIN" in (get(sc, "capabilities.add") or []):
            out.append(f"{where} is privileged: remove securityContext.privileged / SYS_ADMIN; "
                       "GPUs and EFA come from device-plugin resources, not host access")
    return out


def _host_namespaces(_t: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    if _allowed(props, cfg):
        return []
    return [f"{where} sets {key}: remove it (EFA works through the device plugin, not "
            "hostNetwork)"
            for where, spec in pod_specs(props)
            for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key) is True]


def _host_path(_t: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    if _allowed(props, cfg):
        return []
    return [f"{where} mounts hostPath volume {v.get('name', '?')}: use a PVC, emptyDir or "
            "a CSI volume instead"
            for where, spec in pod_specs(props)
            for v in spec.get("volumes") or [] if "hostPath" in v]


def _qty(value: Any) -> Any:
    """GPU counts arrive as 1, 1.0 or "1"; compare them as numbers when they are numbers."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _gpu_requests(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    out = []
    for where, c in containers(props):
        limits = get(c, "resources.limits") or {}
        requests = get(c, "resources.requests") or {}
        if GPU not in limits and GPU not in requests:
            continue
        # Extended resources cannot be overcommitted: Kubernetes rejects requests without a
        # matching limit, so catch it at preview rather than when the operator creates pods.
        if GPU not in limits:
            out.append(f"{where} requests {GPU} without a limit: set limits['{GPU}'] equal "
                       "to the request")
        elif GPU in requests and _qty(requests[GPU]) != _qty(limits[GPU]):
            out.append(f"{where} has {GPU} requests {requests[GPU]} != limits {limits[GPU]}: "
                       "make them equal")
    return out


# Empty: any ECR repository. A stack pins its own with `allowedRepositories` (repository URLs).
REPOSITORY_SCHEMA = {"allowedRepositories": {"type": "array", "items": {"type": "string"},
                                             "default": []}}


def _images_ecr(_t: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    allowed = [r.rstrip("/") for r in (cfg or {}).get("allowedRepositories") or []]

    def ok(image: str) -> bool:
        if not ECR.match(image):
            return False
        return not allowed or any(image.startswith((f"{r}@", f"{r}:")) for r in allowed)
    return [f"{where} image {c.get('image')!r} is not from the stack's ECR repository: push it "
            "there (scanned, immutable) and reference it by digest"
            for where, c in containers(props) if not ok(str(c.get("image", "")))]


def _images_digest(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    return [f"{where} image {c.get('image')!r} is not pinned by digest: reference it as "
            "<repo>@sha256:<digest> so every replica and restart runs the same bits"
            for where, c in containers(props) if not DIGEST.search(str(c.get("image", "")))]


def _env_secrets(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    return [f"{where} env {e['name']} holds a literal value: move it to a Kubernetes Secret "
            "and use valueFrom.secretKeyRef"
            for where, c in containers(props) for e in c.get("env") or []
            if secret_named(str(e.get("name", ""))) and e.get("value") not in (None, "")]


RULES = [
    Rule("no-privileged-containers", "Containers are not privileged (device plugins excepted).",
         MANDATORY, WORKLOADS, _privileged, ALLOW_SCHEMA),
    Rule("no-host-namespaces", "Pods do not use hostNetwork, hostPID or hostIPC.", MANDATORY,
         WORKLOADS, _host_namespaces, ALLOW_SCHEMA),
    Rule("no-host-path-volumes", "Pods do not mount hostPath volumes.", MANDATORY, WORKLOADS,
         _host_path, ALLOW_SCHEMA),
    Rule("gpu-limits-equal-requests", "nvidia.com/gpu limits are set and equal the requests.",
         MANDATORY, WORKLOADS, _gpu_requests),
    Rule("job-images-from-ecr", "Training and dev pods run images from ECR.", MANDATORY, JOBS,
         _images_ecr, REPOSITORY_SCHEMA),
    Rule("job-images-by-digest", "Training and dev pods pin images by @sha256 digest.",
         MANDATORY, JOBS, _images_digest),
    Rule("no-plaintext-secrets-in-env", "Credential-named env vars come from Secrets.",
         MANDATORY, WORKLOADS, _env_secrets),
]
