"""The Kubernetes Pod Security Standards, "restricted" profile (which includes "baseline"), over
every pod template the stack writes: Pods, PyTorchJob replicas, RayJob head, worker and
submitter templates, and any Deployment/DaemonSet/Job.

One rule per control of the standard as published (kubernetes/website
content/en/docs/concepts/security/pod-security-standards.md, the v1.34 list, the same checks as
the pod-security-admission library in kubernetes/kubernetes
staging/src/k8s.io/pod-security-admission/policy/check_*.go). Pod-level securityContext counts
where the standard says it does (runAsNonRoot, seccomp, SELinux, AppArmor). The optional
"non-root groups" control is not enforced, as in pod-security-admission.

Beyond the standard, `pod-read-only-root-filesystem`: every container the stack renders
writes only to emptyDir mounts, and the pack keeps it so.

The device plugins, which need host access to expose GPUs and EFA, are excepted: by name
(`privilegedAllowed`), and `privileged-exception-device-plugins-only` checks that the exception is
never borrowed by a job or a pod outside the system namespaces. The FSx root step is spared the
two non-root controls only (root_step.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .base import (
    JOBS,
    MANDATORY,
    WORKLOADS,
    Check,
    Rule,
    get,
    name_of,
    pod_templates,
    spec_containers,
)
from .root_step import sparing_root_step

# The Helm releases' DaemonSet names of the device plugins the stack installs (components/gpu.py)
# and the upstream manifests' names; only these may ever be exempt, and only in kube-system.
DEVICE_PLUGINS = (
    "nvidia-device-plugin",
    "nvidia-device-plugin-daemonset",
    "aws-efa-k8s-device-plugin",
    "aws-efa-k8s-device-plugin-daemonset",
    "efa-device-plugin",
)
ALLOW_SCHEMA = {
    "privilegedAllowed": {
        "type": "array",
        "items": {"type": "string", "enum": list(DEVICE_PLUGINS)},
        "default": list(DEVICE_PLUGINS),
    },
    "privilegedNamespaces": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["kube-system"],
    },
}

# Restricted: the only capability a container may add; and it must drop ALL.
ADDABLE_CAPABILITIES = ("NET_BIND_SERVICE",)
SECCOMP_TYPES = ("RuntimeDefault", "Localhost")
APPARMOR_TYPES = ("RuntimeDefault", "Localhost")
# Restricted "Volume Types": inline sources other than these are refused (hostPath has its own
# rule below, the baseline control).
# As of v1.34 (check_restrictedVolumes.go; `image` volumes are allowed from 1.33).
VOLUME_TYPES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
)
SELINUX_TYPES = ("", "container_t", "container_init_t", "container_kvm_t", "container_engine_t")
# Baseline "Sysctls": the namespaced, isolated ("safe") set as of v1.34 (check_sysctls.go:
# tcp_rmem/tcp_wmem joined in 1.32). The jobs namespace enforces the cluster's version, and the
# stack's default is 1.34; on an older cluster the API server may refuse a pod this allows.
SAFE_SYSCTLS = (
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
)
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
HOOKS = ("postStart", "preStop")


# ------------------------------------------------------------------------------- the exception


def _exception_problems(type_: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    """Why a resource named in `privilegedAllowed` may not have the exception ([] if it may)."""
    name = name_of(props)
    namespace = get(props, "metadata.namespace") or "default"
    out = []
    if name not in DEVICE_PLUGINS:
        out.append(
            f"{name} is in privilegedAllowed but is not a device plugin "
            f"({', '.join(DEVICE_PLUGINS)}): remove it from the policy config and make the "
            "pod meet the restricted profile"
        )
    if type_ in JOBS:
        out.append(
            f"{type_.rsplit(':', 1)[-1]} {name} borrows the device plugins' privileged "
            "exception: rename it; training and dev pods never get host access"
        )
    if namespace not in cfg.get("privilegedNamespaces", []):
        out.append(
            f"{name} in namespace {namespace} borrows the device plugins' privileged "
            f"exception: device plugins run in {cfg.get('privilegedNamespaces')}; move it "
            "there or make the pod meet the restricted profile"
        )
    return out


def _allowed(type_: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> bool:
    return name_of(props) in cfg.get("privilegedAllowed", []) and not _exception_problems(
        type_, props, cfg
    )


def _exception_scope(type_: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    if name_of(props) not in cfg.get("privilegedAllowed", []):
        return []
    return _exception_problems(type_, props, cfg)


def _restricted(check: Check) -> Check:
    """A restricted-profile check that skips the allow-listed device plugins."""

    def run(type_: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
        return [] if _allowed(type_, props, cfg) else check(type_, props, cfg)

    return run


def _pods(
    props: Mapping[str, Any],
) -> Iterator[tuple[str, Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]]]:
    """(location, pod metadata, pod spec, pod securityContext) of every pod template."""
    for where, meta, spec in pod_templates(props):
        yield where, meta, spec, spec.get("securityContext") or {}


def _containers(
    props: Mapping[str, Any],
) -> Iterator[tuple[str, Mapping[str, Any], Mapping[str, Any]]]:
    """(container location, container securityContext, pod securityContext)."""
    for where, _meta, spec, pod_sc in _pods(props):
        for at, c in spec_containers(where, spec):
            yield at, c.get("securityContext") or {}, pod_sc


def _num(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# -------------------------------------------------------------------------------- the controls


def _privileged(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    return [
        f"{at} is privileged: remove securityContext.privileged; GPUs and EFA come from "
        "device-plugin resources, not host access"
        for at, sc, _ in _containers(props)
        if sc.get("privileged") is True
    ]


def _capabilities(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    out = []
    for at, sc, _ in _containers(props):
        added = [c for c in get(sc, "capabilities.add") or [] if c not in ADDABLE_CAPABILITIES]
        if added:
            out.append(
                f"{at} adds capabilities {added}: remove them from "
                "securityContext.capabilities.add (only NET_BIND_SERVICE may be added)"
            )
        if "ALL" not in (get(sc, "capabilities.drop") or []):
            out.append(
                f"{at} does not drop all capabilities: set securityContext.capabilities.drop: [ALL]"
            )
    return out


def _privilege_escalation(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    return [
        f"{at} may escalate privileges: set securityContext.allowPrivilegeEscalation: false"
        for at, sc, _ in _containers(props)
        if sc.get("allowPrivilegeEscalation") is not False
    ]


def _run_as_non_root(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    out = []
    for where, _meta, spec, pod_sc in _pods(props):
        if pod_sc.get("runAsNonRoot") is False:
            out.append(f"{where} sets securityContext.runAsNonRoot: false: set it to true")
        for at, c in spec_containers(where, spec):
            own = (c.get("securityContext") or {}).get("runAsNonRoot")
            if own is False or (own is None and pod_sc.get("runAsNonRoot") is not True):
                out.append(
                    f"{at} may run as root: set securityContext.runAsNonRoot: true on the "
                    "pod (or the container) and run as the image's non-root uid"
                )
    return out


def _run_as_user(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    out = []
    for where, _meta, spec, pod_sc in _pods(props):
        if _num(pod_sc.get("runAsUser")) == 0:
            out.append(
                f"{where} sets securityContext.runAsUser: 0: use the image's non-root uid "
                "(e.g. 1000)"
            )
        out += [
            f"{at} sets securityContext.runAsUser: 0: use the image's non-root uid (e.g. 1000)"
            for at, c in spec_containers(where, spec)
            if _num((c.get("securityContext") or {}).get("runAsUser")) == 0
        ]
    return out


def _seccomp(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    out = []
    fix = "set securityContext.seccompProfile.type: RuntimeDefault (or Localhost) on the pod"
    for where, meta, spec, pod_sc in _pods(props):
        pod_type = get(pod_sc, "seccompProfile.type")
        if pod_type is not None and pod_type not in SECCOMP_TYPES:
            out.append(f"{where} has seccomp profile {pod_type}: {fix}")
        for at, c in spec_containers(where, spec):
            own = get(c.get("securityContext") or {}, "seccompProfile.type")
            if own is not None and own not in SECCOMP_TYPES:
                out.append(f"{at} has seccomp profile {own}: remove it or {fix}")
            elif own is None and pod_type not in SECCOMP_TYPES:
                out.append(f"{at} has no seccomp profile: {fix}")
        # The pre-1.19 annotations are still read by pod-security-admission.
        for key, value in (meta.get("annotations") or {}).items():
            if "seccomp.security.alpha.kubernetes.io/" in key and value == "unconfined":
                out.append(f"{where} annotation {key}: unconfined turns seccomp off: remove it")
    return out


def _host_namespaces(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    out = [
        f"{where} sets {key}: remove it (EFA and NCCL work through the device plugin and the "
        "pod network, not the host's namespaces)"
        for where, _meta, spec, _sc in _pods(props)
        for key in ("hostNetwork", "hostPID", "hostIPC")
        if spec.get(key) is True
    ]
    # Baseline "HostProcess": Windows host-process pods are host access too.
    out += [
        f"{at} is a Windows HostProcess container: remove windowsOptions.hostProcess"
        for at, sc, pod_sc in _containers(props)
        if get(sc, "windowsOptions.hostProcess") is True
        or get(pod_sc, "windowsOptions.hostProcess") is True
    ]
    return out


def _handler_hosts(at: str, c: Mapping[str, Any]) -> Iterator[str]:
    handlers = [(p, c.get(p)) for p in PROBES] + [
        (f"lifecycle.{h}", get(c, f"lifecycle.{h}")) for h in HOOKS
    ]
    for label, handler in handlers:
        for kind in ("httpGet", "tcpSocket"):
            if get(handler or {}, f"{kind}.host"):
                yield (
                    f"{at} {label}.{kind}.host is set: remove it so the kubelet probes the "
                    "pod, not another host"
                )


def _host_ports(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    out = []
    for where, _meta, spec, _sc in _pods(props):
        for at, c in spec_containers(where, spec):
            out += [
                f"{at} port {p.get('containerPort', '?')} binds hostPort {p['hostPort']}: "
                "remove hostPort and reach the pod through a Service"
                for p in c.get("ports") or []
                if _num(p.get("hostPort")) not in (None, 0)
            ]
            out += list(_handler_hosts(at, c))
    return out


def _host_path(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    return [
        f"{where} mounts hostPath volume {v.get('name', '?')}: use a PVC, emptyDir or "
        "a CSI volume instead"
        for where, _meta, spec, _sc in _pods(props)
        for v in spec.get("volumes") or []
        if "hostPath" in v
    ]


def _volume_types(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    out = []
    for where, _meta, spec, _sc in _pods(props):
        for v in spec.get("volumes") or []:
            kinds = [k for k in v if k != "name" and k != "hostPath"]
            bad = [k for k in kinds if k not in VOLUME_TYPES]
            if bad:
                out.append(
                    f"{where} volume {v.get('name', '?')} is of type {bad[0]}: use a "
                    f"PersistentVolumeClaim (or one of {', '.join(VOLUME_TYPES)})"
                )
    return out


def _apparmor(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    fix = "remove it or use RuntimeDefault/Localhost"
    out = []
    for where, meta, spec, pod_sc in _pods(props):
        kind = get(pod_sc, "appArmorProfile.type")
        if kind is not None and kind not in APPARMOR_TYPES:
            out.append(f"{where} has AppArmor profile {kind}: {fix}")
        for at, c in spec_containers(where, spec):
            kind = get(c.get("securityContext") or {}, "appArmorProfile.type")
            if kind is not None and kind not in APPARMOR_TYPES:
                out.append(f"{at} has AppArmor profile {kind}: {fix}")
        for key, value in (meta.get("annotations") or {}).items():
            # An empty value is allowed too (check_appArmorProfile.go allowedAnnotationValue).
            if key.startswith("container.apparmor.security.beta.kubernetes.io/") and not (
                value in ("", "runtime/default") or str(value).startswith("localhost/")
            ):
                out.append(f"{where} annotation {key}: {value}: {fix} (runtime/default)")
    return out


def _selinux(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    def bad(opts: Mapping[str, Any]) -> list[str]:
        found = []
        if (opts.get("type") or "") not in SELINUX_TYPES:
            found.append(f"type {opts['type']}")
        found += [f"{k} {opts[k]}" for k in ("user", "role") if opts.get(k)]
        return found

    out = []
    fix = "remove seLinuxOptions (or keep type to container_t/container_init_t/container_kvm_t)"
    for where, _meta, spec, pod_sc in _pods(props):
        if bad(pod_sc.get("seLinuxOptions") or {}):
            out.append(f"{where} sets SELinux {bad(pod_sc['seLinuxOptions'])}: {fix}")
        for at, c in spec_containers(where, spec):
            opts = (c.get("securityContext") or {}).get("seLinuxOptions") or {}
            if bad(opts):
                out.append(f"{at} sets SELinux {bad(opts)}: {fix}")
    return out


def _proc_mount(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    return [
        f"{at} sets procMount {sc['procMount']}: remove it (Default masks /proc)"
        for at, sc, _ in _containers(props)
        if sc.get("procMount") not in (None, "Default")
    ]


def _sysctls(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    return [
        f"{where} sets sysctl {s.get('name')}: remove it; pods may set only "
        f"{', '.join(SAFE_SYSCTLS)} (tune the node instead)"
        for where, _meta, _spec, pod_sc in _pods(props)
        for s in pod_sc.get("sysctls") or []
        if s.get("name") not in SAFE_SYSCTLS
    ]


def _read_only_root(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    return [
        f"{at} can write its root filesystem: set securityContext.readOnlyRootFilesystem: true "
        "and mount an emptyDir where it writes (HOME, /tmp, caches)"
        for at, sc, _ in _containers(props)
        if sc.get("readOnlyRootFilesystem") is not True
    ]


# The controls a container carries itself (the ones the training operator's init-container
# template must meet on its own, operator_config.py).
CONTAINER_CONTROLS: tuple[Check, ...] = (
    _privileged,
    _capabilities,
    _privilege_escalation,
    _run_as_non_root,
    _run_as_user,
    _seccomp,
    _read_only_root,
)


def _rule(name: str, description: str, check: Check, controls: tuple[str, ...] = ()) -> Rule:
    return Rule(name, description, MANDATORY, WORKLOADS, _restricted(check), ALLOW_SCHEMA, controls)


RULES = [
    _rule(
        "no-privileged-containers",
        "Containers are not privileged (device plugins excepted).",
        _privileged,
        ("CIS EKS 4.2.1",),
    ),
    _rule(
        "pod-capabilities-restricted",
        "Containers drop ALL capabilities and add none but NET_BIND_SERVICE.",
        _capabilities,
    ),
    _rule(
        "pod-no-privilege-escalation",
        "Containers set allowPrivilegeEscalation: false.",
        _privilege_escalation,
        ("CIS EKS 4.2.5",),
    ),
    # The FSx root-preparation Job alone is spared these two (root_step.py).
    _rule(
        "pod-run-as-non-root",
        "Pods or all their containers set runAsNonRoot: true (the FSx root step excepted).",
        sparing_root_step(_run_as_non_root),
    ),
    _rule(
        "pod-run-as-non-root-user",
        "No pod or container sets runAsUser: 0 (the FSx root step excepted).",
        sparing_root_step(_run_as_user),
    ),
    _rule(
        "pod-seccomp-restricted",
        "Every container runs under a RuntimeDefault or Localhost seccomp profile.",
        _seccomp,
    ),
    _rule(
        "no-host-namespaces",
        "Pods do not use hostNetwork, hostPID, hostIPC or HostProcess.",
        _host_namespaces,
        ("CIS EKS 4.2.2", "CIS EKS 4.2.3", "CIS EKS 4.2.4"),
    ),
    _rule("pod-no-host-ports", "Containers bind no hostPort and probe no other host.", _host_ports),
    _rule("no-host-path-volumes", "Pods do not mount hostPath volumes.", _host_path),
    _rule(
        "pod-volume-types-restricted",
        "Pods use only the restricted profile's volume types.",
        _volume_types,
    ),
    _rule("pod-apparmor-default", "Pods do not override or disable AppArmor.", _apparmor),
    _rule("pod-selinux-default", "Pods set no custom SELinux user, role or type.", _selinux),
    _rule("pod-proc-mount-default", "Containers keep the default (masked) /proc.", _proc_mount),
    _rule("pod-sysctls-safe", "Pods set only the safe, namespaced sysctls.", _sysctls),
    # Beyond the standard (restricted does not require it): every container the stack renders
    # writes only to emptyDir mounts, so a compromised process cannot change the image's
    # binaries or leave files behind for the next exec (device plugins excepted).
    _rule(
        "pod-read-only-root-filesystem",
        "Containers mount their root filesystem read-only.",
        _read_only_root,
    ),
    Rule(
        "privileged-exception-device-plugins-only",
        "Only the device plugins, in kube-system, get the privileged exception.",
        MANDATORY,
        WORKLOADS,
        _exception_scope,
        ALLOW_SCHEMA,
        ("CIS EKS 4.2.1",),
    ),
]
