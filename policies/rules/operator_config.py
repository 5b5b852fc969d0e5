"""The two objects the stack adds to the training operator it installs with kustomize
(components/operators.py): the init-container template the operator puts into PyTorchJob Worker
pods, and the patch of the operator's Deployment that mounts it.

The template is a ConfigMap file `initContainer.yaml` (training-operator v1.9.3
pkg/config/config.go, read as a YAML list of containers): its containers run in the jobs'
pods, so they are held to the same restricted controls as the jobs' own containers. The patch
is a server-side apply of the operator's Deployment: it may only mount ConfigMaps read-only into
the containers it names, never change how the operator itself runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from .base import MANDATORY, Rule, name_of
from .kube import CONFIG_MAP, DEPLOYMENT_PATCH
from .pod_security import CONTAINER_CONTROLS

INIT_TEMPLATE_FILE = "initContainer.yaml"
# What the patch may carry: per pod spec, per container, per volume.
PATCH_POD_KEYS = {"containers", "volumes"}
PATCH_CONTAINER_KEYS = {"name", "volumeMounts"}
PATCH_VOLUME_KEYS = {"name", "configMap"}


def _init_template(_t: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    text = (props.get("data") or {}).get(INIT_TEMPLATE_FILE)
    if text is None:
        return []
    try:
        containers = yaml.safe_load(text)
    except yaml.YAMLError as e:
        return [f"{INIT_TEMPLATE_FILE} is not YAML ({e}): render it with yaml.safe_dump"]
    if not isinstance(containers, list):
        return [f"{INIT_TEMPLATE_FILE} is not a list of containers: render one"]
    # The containers as a pod with no pod-level securityContext: the operator adds them to
    # pods whose own settings it does not control, so each must carry its own.
    pod = {"metadata": {"name": name_of(props)}, "spec": {"containers": containers}}
    return [
        f"{INIT_TEMPLATE_FILE} {m}"
        for check in CONTAINER_CONTROLS
        for m in check("kubernetes:core/v1:Pod", pod, cfg)
    ]


def _patch_scope(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    spec = ((props.get("spec") or {}).get("template") or {}).get("spec") or {}
    name = name_of(props)
    out = [
        f"the patch of Deployment {name} sets spec.template.spec.{k}: patch only volumes and "
        "volumeMounts; the operator keeps its upstream pod settings"
        for k in sorted(set(spec) - PATCH_POD_KEYS)
    ]
    for c in spec.get("containers") or []:
        out += [
            f"the patch of Deployment {name} sets {k} of container {c.get('name')}: patch only "
            "its volumeMounts"
            for k in sorted(set(c) - PATCH_CONTAINER_KEYS)
        ]
        out += [
            f"the patch of Deployment {name} mounts {m.get('name')} writable: set readOnly: true"
            for m in c.get("volumeMounts") or []
            if m.get("readOnly") is not True
        ]
    for v in spec.get("volumes") or []:
        out += [
            f"the patch of Deployment {name} adds a {k} volume {v.get('name')}: mount only "
            "ConfigMaps"
            for k in sorted(set(v) - PATCH_VOLUME_KEYS)
        ]
    other = sorted(set(props.get("spec") or {}) - {"template"})
    out += [
        f"the patch of Deployment {name} sets spec.{k}: patch only the pod template's volumes"
        for k in other
    ]
    return out


RULES = [
    Rule(
        "operator-init-template-restricted",
        "The training operator's init-container template meets the restricted container controls.",
        MANDATORY,
        (CONFIG_MAP,),
        _init_template,
        controls=("CIS EKS 4.2.1", "CIS EKS 4.2.5"),
    ),
    Rule(
        "operator-patch-scope",
        "The patch of the training operator's Deployment only mounts ConfigMaps read-only.",
        MANDATORY,
        (DEPLOYMENT_PATCH,),
        _patch_scope,
    ),
]
