"""Pods the stack runs itself (training jobs, the dev pod, any workload): well-formed GPU
requests, pinned images, no credentials in plain text. Privilege is pod_security.py's."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .base import GPU, MANDATORY, WORKLOADS, Rule, containers, get, secret_named

ECR = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


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
            out.append(
                f"{where} requests {GPU} without a limit: set limits['{GPU}'] equal to the request"
            )
        elif GPU in requests and _qty(requests[GPU]) != _qty(limits[GPU]):
            out.append(
                f"{where} has {GPU} requests {requests[GPU]} != limits {limits[GPU]}: "
                "make them equal"
            )
    return out


# Empty: any ECR repository. A stack pins its own with `allowedRepositories` (repository URLs).
REPOSITORY_SCHEMA = {
    "allowedRepositories": {"type": "array", "items": {"type": "string"}, "default": []}
}


def _images_ecr(_t: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    allowed = [r.rstrip("/") for r in (cfg or {}).get("allowedRepositories") or []]

    def ok(image: str) -> bool:
        if not ECR.match(image):
            return False
        return not allowed or any(image.startswith((f"{r}@", f"{r}:")) for r in allowed)

    return [
        f"{where} image {c.get('image')!r} is not from the stack's ECR repository: push it "
        "there (scanned, immutable) and reference it by digest"
        for where, c in containers(props)
        if not ok(str(c.get("image", "")))
    ]


def _images_digest(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    return [
        f"{where} image {c.get('image')!r} is not pinned by digest: reference it as "
        "<repo>@sha256:<digest> so every replica and restart runs the same bits"
        for where, c in containers(props)
        if not DIGEST.search(str(c.get("image", "")))
    ]


def _env_secrets(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    return [
        f"{where} env {e['name']} holds a literal value: move it to a Kubernetes Secret "
        "and use valueFrom.secretKeyRef"
        for where, c in containers(props)
        for e in c.get("env") or []
        if secret_named(str(e.get("name", ""))) and e.get("value") not in (None, "")
    ]


RULES = [
    Rule(
        "gpu-limits-equal-requests",
        "nvidia.com/gpu limits are set and equal the requests.",
        MANDATORY,
        WORKLOADS,
        _gpu_requests,
    ),
    # Every workload the stack runs, not only the jobs: servers, the job watcher and the FSx
    # root step run the stack's own (scanned, immutable) ECR images too.
    Rule(
        "job-images-from-ecr",
        "Workload pods (jobs, dev pod, servers, watcher) run images from the stack's ECR.",
        MANDATORY,
        WORKLOADS,
        _images_ecr,
        REPOSITORY_SCHEMA,
    ),
    Rule(
        "job-images-by-digest",
        "Workload pods pin images by @sha256 digest.",
        MANDATORY,
        WORKLOADS,
        _images_digest,
    ),
    Rule(
        "no-plaintext-secrets-in-env",
        "Credential-named env vars come from Secrets.",
        MANDATORY,
        WORKLOADS,
        _env_secrets,
    ),
]
