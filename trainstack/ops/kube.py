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


def read_kubeconfig(path: Path, fix: str) -> dict[str, Any]:
    """The file's YAML mapping; KubeConfigError names the file and what is wrong with it.

    The official client (kubernetes 35.0.0, kubernetes/config/kube_config.py,
    KubeConfigMerger.load_config) yaml-loads each file and indexes the result as a mapping: invalid
    YAML escapes it as a YAMLError and any other shape as a TypeError, neither saying which file.
    An empty file it refuses itself (ConfigException), and so is left to it."""
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise KubeConfigError(
            f"kubeconfig {path} is not valid YAML: {problem}{where}", fix
        ) from err
    if data is not None and not isinstance(data, dict):
        kind = {list: "list", str: "string", bool: "boolean"}.get(type(data), "number")
        raise KubeConfigError(
            f"kubeconfig {path} holds a YAML {kind}, not the mapping a "
            "kubeconfig is (apiVersion, clusters, contexts, users)",
            fix,
        )
    return data or {}


def _bad_file_fix(command: str) -> str:
    return (
        f"point --kubeconfig (or $KUBECONFIG) at a kubeconfig, or move the file aside and "
        f"run {command}"
    )


def _load(path: Path, fix: str) -> dict[str, Any]:
    try:
        return read_kubeconfig(path, fix)
    except OSError:  # a $KUBECONFIG list may name files that do not exist (kubectl skips them)
        return {}


def find_context(
    paths: list[Path], *, arn: str | None = None, endpoint: str | None = None, fix: str = ""
) -> tuple[Path, str] | None:
    """The (file, context) that points at this EKS cluster: by context name (the ARN, as
    update-kubeconfig writes it), else by the server URL of the context's cluster entry.
    A file that is not a kubeconfig raises KubeConfigError with `fix`."""
    want_server = (endpoint or "").rstrip("/").lower()
    for path in paths:
        data = _load(path, fix)
        servers = {
            c.get("name"): (c.get("cluster") or {}).get("server", "")
            for c in data.get("clusters") or []
        }
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


def api_client(
    *,
    cluster: str,
    region: str | None,
    arn: str | None = None,
    endpoint: str | None = None,
    kubeconfig: str | None = None,
):
    """An ApiClient for this cluster's context; KubeConfigError names the fix when there is none.

    EKS kubeconfigs authenticate through `aws eks get-token` (an exec plugin), which the official
    client runs itself, so no token handling is needed here."""
    from kubernetes.config import ConfigException, new_client_from_config

    paths = kubeconfig_paths(kubeconfig)
    found = find_context(
        paths,
        arn=arn,
        endpoint=endpoint,
        fix=_bad_file_fix(update_kubeconfig_command(cluster, region)),
    )
    if found is None:
        shown = os.pathsep.join(str(p) for p in paths)
        raise KubeConfigError(
            f"no context for cluster {cluster} in {shown}",
            update_kubeconfig_command(cluster, region),
        )
    path, context = found
    try:
        return new_client_from_config(config_file=str(path), context=context, persist_config=False)
    except (ConfigException, OSError) as err:
        raise KubeConfigError(
            f"kubeconfig {path}, context {context}: {err}",
            update_kubeconfig_command(cluster, region),
        ) from err


def current_api_client(kubeconfig: str | None = None):
    """The client of the current context, for commands (status, logs) that do not discover the
    cluster through AWS."""
    from kubernetes.config import ConfigException, new_client_from_config

    paths = [p for p in kubeconfig_paths(kubeconfig) if p.exists()]
    if not paths:
        raise KubeConfigError("no kubeconfig found", update_kubeconfig_command("CLUSTER", "REGION"))
    for path in paths:  # each file the client would merge
        read_kubeconfig(path, _bad_file_fix(update_kubeconfig_command("CLUSTER", "REGION")))
    try:
        # The client merges a $KUBECONFIG list itself when it is given none explicitly.
        file = str(paths[0]) if kubeconfig or len(paths) == 1 else None
        return new_client_from_config(config_file=file, persist_config=False)
    except (ConfigException, OSError) as err:
        raise KubeConfigError(
            f"kubeconfig: {err}", update_kubeconfig_command("CLUSTER", "REGION")
        ) from err


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
