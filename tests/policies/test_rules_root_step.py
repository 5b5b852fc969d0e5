"""The one root pod (policies/rules/root_step.py): the FSx root-preparation Job, as
components/volume_prepare.py renders it, is spared only the two non-root controls, only in its
namespace and only under its names, and may only chmod."""

from __future__ import annotations

import copy

import pytest
from security_cases import IMAGE, RESTRICTED

from components import volume_prepare
from policies.rules import BY_NAME, pod_security, root_step

JOB = root_step.JOB
NON_ROOT = {"pod-run-as-non-root", "pod-run-as-non-root-user"}


def _violations(props) -> dict[str, list[str]]:
    names = [*RESTRICTED, "root-step-scope"]
    return {n: found for n in names if (found := BY_NAME[n](JOB, props))}


def _step() -> dict:
    return volume_prepare.render_job("checkpoints", IMAGE)


def test_the_rendered_root_step_passes_the_pack():
    assert _violations(_step()) == {}


@pytest.mark.parametrize(
    "edit",
    [
        lambda j: j["metadata"].update(namespace="training"),
        lambda j: j["metadata"].update(name="chmod-checkpoints"),
    ],
    ids=["another namespace", "another name"],
)
def test_elsewhere_or_under_another_name_root_is_refused(edit):
    props = _step()
    edit(props)
    assert NON_ROOT <= set(_violations(props))


def test_the_step_gets_no_other_exception():
    props = _step()
    c = props["spec"]["template"]["spec"]["containers"][0]
    c["securityContext"]["capabilities"] = {"add": ["CHOWN"], "drop": ["ALL"]}
    c["securityContext"]["allowPrivilegeEscalation"] = True
    assert set(_violations(props)) == {"pod-capabilities-restricted", "pod-no-privilege-escalation"}


@pytest.mark.parametrize(
    "command",
    [["sh", "-c", "chmod 1777 /volume"], ["chmod", "-R", "1777", "/volume"], ["chmod"]],
)
def test_the_step_may_only_chmod(command):
    props = _step()
    props["spec"]["template"]["spec"]["containers"][0]["command"] = command
    found = BY_NAME["root-step-scope"](JOB, props)
    assert found and "may only run `chmod <mode> <path>`" in found[0]


def test_nothing_else_runs_in_the_step_namespace():
    other = copy.deepcopy(_step())
    other["metadata"]["name"] = "debug"
    found = BY_NAME["root-step-scope"](JOB, other)
    assert found and "only the FSx root-preparation Jobs" in found[0]


def test_the_scope_rule_covers_every_workload_type():
    assert set(root_step.WORKLOADS) == set(pod_security.WORKLOADS)
