"""The Pod Security Standards "restricted" profile (policies/rules/pod_security.py) over every
pod template the stack writes, and the device plugins' exception."""

from __future__ import annotations

import copy

import pytest
from policy_cases import _broken_rules, _captured, _job_container
from security_cases import DS, IMAGE, POD, PTJ, RAYJOB, RESTRICTED, job, plugin, pod, rayjob, spec
from support import plan

from policies import BY_NAME, MANDATORY
from policies.rules import pod_security

# ------------------------------------------------------------------ Pod Security, restricted


def _restricted_violations(type_, props):
    return {n: BY_NAME[n](type_, props) for n in RESTRICTED if BY_NAME[n](type_, props)}


@pytest.mark.parametrize(
    "type_,props",
    [
        (POD, pod()),
        (PTJ, job()),
        (RAYJOB, rayjob("head", spec())),
        (DS, {"metadata": {"name": "x"}, "spec": {"template": {"spec": spec()}}}),
    ],
)
def test_compliant_pod_templates_pass_every_restricted_rule(type_, props):
    assert _restricted_violations(type_, props) == {}


@pytest.mark.parametrize("where", ["head", "worker", "submitter"])
def test_every_rayjob_pod_template_is_checked(where):
    bad = spec({"securityContext": {"allowPrivilegeEscalation": True}})
    found = BY_NAME["pod-no-privilege-escalation"](RAYJOB, rayjob(where, bad))
    assert len(found) == 1
    assert {
        "head": "headGroupSpec",
        "worker": "workerGroupSpecs[1]",
        "submitter": "submitterPodTemplate",
    }[where] in found[0]


@pytest.mark.parametrize("cap", ["ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE"])
def test_every_added_capability_but_net_bind_service_is_caught(cap):
    found = BY_NAME["pod-capabilities-restricted"](
        POD, pod({"securityContext": {"capabilities": {"drop": ["ALL"], "add": [cap]}}})
    )
    assert len(found) == 1 and cap in found[0] and "containers[main]" in found[0]


def test_capabilities_must_drop_all():
    found = BY_NAME["pod-capabilities-restricted"](
        POD, pod({"securityContext": {"capabilities": {"drop": ["NET_RAW"]}}})
    )
    assert found == [
        "spec.containers[main] does not drop all capabilities: set "
        "securityContext.capabilities.drop: [ALL]"
    ]


def test_init_and_ephemeral_containers_are_checked_too():
    props = pod(initContainers=[{"name": "setup", "image": IMAGE}])
    found = _restricted_violations(POD, props)
    assert set(found) == {
        "pod-capabilities-restricted",
        "pod-no-privilege-escalation",
        "pod-read-only-root-filesystem",
    }
    assert all("initContainers[setup]" in m for ms in found.values() for m in ms)


def test_pod_level_settings_are_inherited_and_container_overrides_still_count():
    # runAsNonRoot and seccomp at pod level cover every container...
    assert BY_NAME["pod-run-as-non-root"](POD, pod()) == []
    assert BY_NAME["pod-seccomp-restricted"](POD, pod()) == []
    # ...but a container turning them off is caught, as is the pod turning them off.
    assert BY_NAME["pod-run-as-non-root"](POD, pod({"securityContext": {"runAsNonRoot": False}}))
    assert BY_NAME["pod-run-as-non-root"](POD, pod(pod_sc={"runAsNonRoot": False}))
    off = pod({"securityContext": {"seccompProfile": {"type": "Unconfined"}}})
    assert "Unconfined" in BY_NAME["pod-seccomp-restricted"](POD, off)[0]
    assert BY_NAME["pod-seccomp-restricted"](POD, pod(pod_sc={"seccompProfile": None}))
    root = pod({"securityContext": {"runAsUser": 0}})
    assert "containers[main]" in BY_NAME["pod-run-as-non-root-user"](POD, root)[0]


def test_host_probes_and_unsafe_annotations_are_caught():
    probe = {"livenessProbe": {"httpGet": {"host": "169.254.169.254", "path": "/", "port": 80}}}
    assert "livenessProbe.httpGet.host" in BY_NAME["pod-no-host-ports"](POD, pod(probe))[0]
    annotated = pod(
        meta={"annotations": {"container.apparmor.security.beta.kubernetes.io/main": "unconfined"}}
    )
    assert BY_NAME["pod-apparmor-default"](POD, annotated)
    assert BY_NAME["pod-selinux-default"](POD, pod(pod_sc={"seLinuxOptions": {"user": "u"}}))


# ----------------------------------------------------------------- the device plugins' exception


def test_device_plugins_in_kube_system_are_exempt_from_every_restricted_rule():
    assert _restricted_violations(DS, plugin()) == {}
    assert _restricted_violations(DS, plugin("aws-efa-k8s-device-plugin")) == {}
    assert BY_NAME["privileged-exception-device-plugins-only"](DS, plugin()) == []


@pytest.mark.parametrize(
    "props,type_,why",
    [
        (plugin(namespace="training"), DS, "namespace training"),
        (plugin(type_=POD, namespace="training"), POD, "borrows"),
        (plugin(namespace="kube-system", type_=POD), POD, "never get host access"),
    ],
)
def test_the_exception_is_never_borrowed_by_a_job_or_outside_kube_system(props, type_, why):
    # Not exempt: the restricted rules report it...
    assert {"no-privileged-containers", "no-host-path-volumes"} <= set(
        _restricted_violations(type_, props)
    )
    # ...and the allow-list check says why the name did not earn the exception.
    found = BY_NAME["privileged-exception-device-plugins-only"](type_, props)
    assert any(why in m for m in found), found


def test_a_job_named_like_a_device_plugin_gets_no_exception():
    props = job({"securityContext": {"privileged": True}})
    props["metadata"]["name"] = "nvidia-device-plugin"
    assert BY_NAME["no-privileged-containers"](PTJ, props)
    assert BY_NAME["privileged-exception-device-plugins-only"](PTJ, props)


def test_allow_list_names_only_device_plugins():
    # The pack's schema refuses any other name, and the rule reports one that got in anyway.
    schema = BY_NAME["no-privileged-containers"].config_schema["privilegedAllowed"]
    assert set(schema["items"]["enum"]) == set(pod_security.DEVICE_PLUGINS)
    assert all("device-plugin" in n for n in pod_security.DEVICE_PLUGINS)
    cfg = {"privilegedAllowed": ["debug"]}
    found = BY_NAME["privileged-exception-device-plugins-only"](DS, plugin("debug"), cfg)
    assert found and "is not a device plugin" in found[0]
    assert BY_NAME["no-privileged-containers"](DS, plugin("debug"), cfg)
    # Narrowing the list removes the exception from the plugins left out.
    assert BY_NAME["no-privileged-containers"](DS, plugin(), {"privilegedAllowed": []})


def test_captured_job_with_privileged_container_is_caught():
    props = _captured(PTJ)
    before = copy.deepcopy(props)
    _job_container(props)["securityContext"]["privileged"] = True
    assert _broken_rules(PTJ, props, before) == {"no-privileged-containers"}


def test_the_example_stacks_pods_pass_every_restricted_rule():
    found = {v.rule for v in plan("dev").policy_violations if v.level == MANDATORY}
    assert found == set()
