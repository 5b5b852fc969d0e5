"""Helm releases of upstream charts, installed the same way everywhere."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s


def helm_release(
    resource_name: str,
    *,
    release: str,
    chart: str,
    version: str,
    namespace: str,
    opts: pulumi.ResourceOptions,
    repo: str | None = None,
    values: pulumi.Input[dict[str, Any]] | None = None,
    **extra: Any,
) -> k8s.helm.v3.Release:
    """A pinned chart from a Helm repository (`repo`) or an OCI reference (`chart`)."""
    return k8s.helm.v3.Release(
        resource_name,
        name=release,
        chart=chart,
        version=version,
        namespace=namespace,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo) if repo else None,
        values=values,
        opts=opts,
        **extra,
    )
