"""The one pod the stack runs as root: the FSx root-preparation Job (components/volume_prepare.py),
which `chmod`s a new Lustre file system's root so the jobs' uid can create its folder.

The exemption is as narrow as the step: a batch/v1 Job named `prepare-*` in its own namespace is
spared only the two non-root controls of the restricted profile (pod-run-as-non-root,
pod-run-as-non-root-user); every other control still applies (no capability, no escalation,
RuntimeDefault seccomp, no host access). `root-step-scope` holds the rest: nothing else runs in
that namespace, and the Job's containers run `chmod <mode> <path>` and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.required import VOLUME_PREPARE_NAMESPACE, VOLUME_PREPARE_PREFIX

from .base import (
    MANDATORY,
    WORKLOADS,
    Check,
    Rule,
    get,
    name_of,
    pod_templates,
    spec_containers,
)

JOB = "kubernetes:batch/v1:Job"


def is_root_step(type_: str, props: Mapping[str, Any]) -> bool:
    return (
        type_ == JOB
        and get(props, "metadata.namespace") == VOLUME_PREPARE_NAMESPACE
        and name_of(props).startswith(VOLUME_PREPARE_PREFIX)
    )


def sparing_root_step(check: Check) -> Check:
    """A non-root control that the root step is exempt from (root_step_scope still applies)."""

    def run(type_: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
        return [] if is_root_step(type_, props) else check(type_, props, cfg)

    return run


def _scope(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    name = name_of(props)
    if get(props, "metadata.namespace") != VOLUME_PREPARE_NAMESPACE:
        return []
    if not is_root_step(type_, props):
        return [
            f"{type_.rsplit(':', 1)[-1]} {name} runs in {VOLUME_PREPARE_NAMESPACE}, where only "
            f"the FSx root-preparation Jobs ({VOLUME_PREPARE_PREFIX}*) may: move it to a "
            "namespace of its own"
        ]
    out = []
    for where, _meta, spec in pod_templates(props):
        for at, c in spec_containers(where, spec):
            command = list(c.get("command") or [])
            if len(command) != 3 or command[0] != "chmod" or c.get("args"):
                out.append(
                    f"{at} runs {command + list(c.get('args') or [])}: the root step may only "
                    "run `chmod <mode> <path>`"
                )
    return out


RULES = [
    Rule(
        "root-step-scope",
        f"Only the FSx root-preparation Jobs run in {VOLUME_PREPARE_NAMESPACE}, and they only "
        "chmod the volume's root.",
        MANDATORY,
        WORKLOADS,
        _scope,
    ),
]
