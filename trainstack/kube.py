"""Kubernetes client construction for the commands that read a live cluster.

`aws eks update-kubeconfig` names its context after the cluster ARN; a kubeconfig may hold many
clusters, so the context is chosen by that ARN or by the API server endpoint rather than by
whatever happens to be current, and a doctor run never inspects the wrong cluster.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import yaml

DEFAULT_KUBECONFIG = "~/.kube/config"


class KubeConfigError(Exception):
    """No usable kubeconfig/context; `fix` is the command that writes one."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.fix = fix


def kubeconfig_paths(explicit: str | os.PathLike | None = None) -> list[Path]:
    """--kubeconfig, else $KUBECONFIG (a path list, as kubectl reads it), else ~/.kube/config."""
    if explicit:
        return [Path(explicit).expanduser()]
    env = os.environ.get("KUBECONFIG", "")
    parts = [p for p in env.split(os.pathsep) if p] or [DEFAULT_KUBECONFIG]
    return [Path(p).expanduser() for p in parts]


def _load(path: Path) -> dict[str, Any]:
    try:
        return yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}


def find_context(paths: list[Path], *, arn: str | None = None,
                 endpoint: str | None = None) -> tuple[Path, str] | None:
    """The (file, context) that points at this EKS cluster: by context name (the ARN, as
    update-kubeconfig writes it), else by the server URL of the context's cluster entry."""
    want_server = (endpoint or "").rstrip("/").lower()
    for path in paths:
        data = _load(path)
        servers = {c.get("name"): (c.get("cluster") or {}).get("server", "")
                   for c in data.get("clusters") or []}
        for ctx in data.get("contexts") or []:
            name = ctx.get("name")
            cluster = (ctx.get("context") or {}).get("cluster")
            if arn and name == arn:
                return path, name
            server = str(servers.get(cluster, "")).rstrip("/").lower()
            if want_server and server == want_server:
                return path, name
    return None


def update_kubeconfig_command(cluster: str, region: str | None) -> str:
    region_arg = f" --region {region}" if region else ""
    return f"aws eks update-kubeconfig --name {cluster}{region_arg}"


def api_client(*, cluster: str, region: str | None, arn: str | None = None,
               endpoint: str | None = None, kubeconfig: str | None = None):
    """An ApiClient for this cluster's context; KubeConfigError names the fix when there is none.

    EKS kubeconfigs authenticate through `aws eks get-token` (an exec plugin), which the official
    client runs itself, so no token handling is needed here."""
    from kubernetes.config import ConfigException, new_client_from_config

    paths = kubeconfig_paths(kubeconfig)
    found = find_context(paths, arn=arn, endpoint=endpoint)
    if found is None:
        shown = os.pathsep.join(str(p) for p in paths)
        raise KubeConfigError(f"no context for cluster {cluster} in {shown}",
                              update_kubeconfig_command(cluster, region))
    path, context = found
    try:
        return new_client_from_config(config_file=str(path), context=context,
                                      persist_config=False)
    except (ConfigException, OSError) as err:
        raise KubeConfigError(f"kubeconfig {path}, context {context}: {err}",
                              update_kubeconfig_command(cluster, region)) from err


def current_api_client(kubeconfig: str | None = None):
    """The client of the current context, for commands (status, logs) that do not discover the
    cluster through AWS."""
    from kubernetes.config import ConfigException, new_client_from_config

    paths = [p for p in kubeconfig_paths(kubeconfig) if p.exists()]
    if not paths:
        raise KubeConfigError("no kubeconfig found",
                              update_kubeconfig_command("CLUSTER", "REGION"))
    try:
        # The client merges a $KUBECONFIG list itself when it is given none explicitly.
        file = str(paths[0]) if kubeconfig or len(paths) == 1 else None
        return new_client_from_config(config_file=file, persist_config=False)
    except (ConfigException, OSError) as err:
        raise KubeConfigError(f"kubeconfig: {err}",
                              update_kubeconfig_command("CLUSTER", "REGION")) from err


@functools.cache
def _serializer():
    from kubernetes.client import ApiClient

    return ApiClient()


def to_dict(obj: Any) -> Any:
    """A client model as the API's JSON (camelCase keys), the form diagnose.classify reads."""
    return _serializer().sanitize_for_serialization(obj)


def api_message(err) -> str:
    """The API server's own sentence from an ApiException (its body is a Status object)."""
    try:
        return json.loads(err.body)["message"]
    except (TypeError, ValueError, KeyError):
        return f"HTTP {err.status} {err.reason}"
