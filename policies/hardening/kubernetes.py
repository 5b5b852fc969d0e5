"""The hardening table's Kubernetes objects, Helm releases and the kustomize overlay: what in
each is security-relevant and the rule that guards it."""

from __future__ import annotations

import re
from typing import Any

from ..mutate import REMOVE, UNCHANGED, Weaken, remove_items, set_to
from .entries import DROP, RENDERED_WORKLOADS, Guarded, Unguarded, each
from .weaken_k8s import (
    ADDRESS_RULE_ALL_PORTS,
    DELETE_ANY,
    HOST_PATH_PV,
    IMAGE_BY_TAG,
    IMAGE_FROM_DOCKER_HUB,
    ONTO_JOB_ACCOUNT,
    OPEN_RULE_ALL_PORTS,
    OTHER_SERVICE_ACCOUNT,
    SECRET_AS_LITERAL,
    appended,
    merged,
    replaced_text,
)

# --- Kubernetes objects, Helm releases and the kustomize overlay ---------------------------------
# Pod templates: what the restricted profile and the stack set, what a pod runs and as whom.
_WORKLOADS = RENDERED_WORKLOADS
_JOB = "kubernetes:batch/v1:Job"  # only the FSx root step, which runs as root by design
_NON_ROOT_STEP = tuple(t for t in _WORKLOADS if t != _JOB)
_SC = "securityContext"
_DEPLOYMENT_PATCH = "kubernetes:apps/v1:DeploymentPatch"
_TRAINJOB = "kubernetes:trainer.kubeflow.org/v1alpha1:TrainJob"
_RUNTIME = "kubernetes:trainer.kubeflow.org/v1alpha1:TrainingRuntime"
_NAMESPACE = "kubernetes:core/v1:Namespace"
_NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
_SERVICE = "kubernetes:core/v1:Service"
_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
# The job watcher's cluster-wide reads (nodes, their events): components/jobwatch_manifests.py.
_CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
_CLUSTER_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
_ROLES = (_ROLE, _CLUSTER_ROLE)
_BINDINGS = (_BINDING, _CLUSTER_BINDING)
_SECRET = "kubernetes:core/v1:Secret"
_CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
_PV = "kubernetes:core/v1:PersistentVolume"
_PVC = "kubernetes:core/v1:PersistentVolumeClaim"
_SA = "kubernetes:core/v1:ServiceAccount"
_STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
_RELEASE = "kubernetes:helm.sh/v3:Release"
_KUSTOMIZE = "kubernetes:kustomize/v2:Directory"
_PSA = "pod-security.kubernetes.io"
_IMDS = "169.254.169.254/32"
_INIT_TEMPLATE = 'data["initContainer.yaml"]'


def _restricted(v: Any) -> bool:
    return v == "restricted"


def _names_pods(selector: Any) -> bool:
    return isinstance(selector, dict) and bool(selector.get("matchLabels"))


def _default_deny(spec: Any) -> bool:
    return isinstance(spec, dict) and not (spec.get("podSelector") or {}).get("matchLabels")


def _rbac_rule(api_group: str, resource: str, *verbs: str) -> dict[str, Any]:
    return {"apiGroups": [api_group], "resources": [resource], "verbs": list(verbs)}


_ESCALATIONS = {
    "escalate and bind roles": _rbac_rule("rbac.authorization.k8s.io", "roles", "escalate", "bind"),
    "impersonate ServiceAccounts": _rbac_rule("", "serviceaccounts", "impersonate"),
    "create pods": _rbac_rule("", "pods", "create"),
    "exec into pods": _rbac_rule("", "pods/exec", "create"),
    "create PersistentVolumes": _rbac_rule("", "persistentvolumes", "create"),
    "reach nodes/proxy": _rbac_rule("", "nodes/proxy", "get"),
    "change webhooks": _rbac_rule(
        "admissionregistration.k8s.io", "mutatingwebhookconfigurations", "create", "update"
    ),
    "mint tokens": _rbac_rule("", "serviceaccounts/token", "create"),
}
_NAMESPACED = (
    *_WORKLOADS,
    _TRAINJOB,
    _DEPLOYMENT_PATCH,
    _NETPOL,
    _SERVICE,
    _ROLE,
    _BINDING,
    _SECRET,
    _CONFIG_MAP,
    _PVC,
    _SA,
)

KUBERNETES: list[Guarded | Unguarded] = [
    # The restricted profile, per container and per pod.
    *each(
        _WORKLOADS,
        f"<container>.{_SC}.allowPrivilegeEscalation",
        set_to(True),
        "pod-no-privilege-escalation",
    ),
    *each(_WORKLOADS, f"<container>.{_SC}.privileged", set_to(True), "no-privileged-containers"),
    *each(
        _WORKLOADS, f"<container>.{_SC}.capabilities.drop", REMOVE, "pod-capabilities-restricted"
    ),
    *each(
        _WORKLOADS,
        f"<container>.{_SC}.capabilities",
        merged("add SYS_ADMIN", {"add": ["SYS_ADMIN"]}),
        "pod-capabilities-restricted",
    ),
    *each(
        _WORKLOADS,
        f"<container>.{_SC}.seccompProfile.type",
        set_to("Unconfined"),
        "pod-seccomp-restricted",
    ),
    *each(
        _WORKLOADS,
        f"<pod>.{_SC}.seccompProfile.type",
        set_to("Unconfined"),
        "pod-seccomp-restricted",
    ),
    *each(_NON_ROOT_STEP, f"<container>.{_SC}.runAsNonRoot", set_to(False), "pod-run-as-non-root"),
    *each(_NON_ROOT_STEP, f"<pod>.{_SC}.runAsNonRoot", set_to(False), "pod-run-as-non-root"),
    *each(_NON_ROOT_STEP, f"<pod>.{_SC}.runAsUser", set_to(0), "pod-run-as-non-root-user"),
    *each(
        _WORKLOADS,
        f"<container>.{_SC}.readOnlyRootFilesystem",
        set_to(False),
        "pod-read-only-root-filesystem",
    ),
    *[
        entry
        for key in ("hostNetwork", "hostPID", "hostIPC")
        for entry in each(_WORKLOADS, "<pod>", merged(key, {key: True}), "no-host-namespaces")
    ],
    *each(
        _WORKLOADS,
        "<pod>.volumes",
        appended("a hostPath volume", {"name": "host", "hostPath": {"path": "/"}}),
        "no-host-path-volumes",
    ),
    *each(
        _WORKLOADS,
        "<container>",
        merged("bind a hostPort", {"ports": [{"containerPort": 8080, "hostPort": 8080}]}),
        "pod-no-host-ports",
    ),
    # What a pod runs and as whom.
    *each(_WORKLOADS, "<container>.image", IMAGE_BY_TAG, "job-images-by-digest"),
    *each(_WORKLOADS, "<container>.image", IMAGE_FROM_DOCKER_HUB, "job-images-from-ecr"),
    # The HF token reaches the jobs and the servers by secretKeyRef (components/pod_spec.py).
    *each(
        ("kubernetes:kubeflow.org/v1:PyTorchJob", _RUNTIME, "kubernetes:apps/v1:Deployment"),
        "<container>.env[*]",
        SECRET_AS_LITERAL,
        "no-plaintext-secrets-in-env",
    ),
    # A TrainJob runs its TrainingRuntime's pods, those the entries above weaken, unchanged.
    *[
        Guarded(_TRAINJOB, path, weaken, "trainjob-runs-its-runtime")
        for path, weaken in (
            ("spec.runtimeRef.name", set_to("torch-distributed")),
            ("spec.runtimeRef.kind", set_to("ClusterTrainingRuntime")),
            ("spec.runtimeRef.kind", REMOVE),
            ("spec.trainer", merged("an image of its own", {"image": "python:3.12"})),
            ("spec.trainer", merged("a command of its own", {"command": ["sh", "-c", "id"]})),
            (
                "spec",
                merged(
                    "a runtime patch",
                    {
                        "runtimePatches": [
                            {
                                "manager": "example.com/patcher",
                                "trainingRuntimeSpec": {"template": {"spec": {}}},
                            }
                        ]
                    },
                ),
            ),
        )
    ],
    *each(
        _WORKLOADS,
        "<pod>.automountServiceAccountToken",
        set_to(True),
        "service-account-token-only-where-needed",
    ),
    *each(_NON_ROOT_STEP, "<pod>", OTHER_SERVICE_ACCOUNT, "pod-identity-matches-service-account"),
    *each(
        ("kubernetes:ray.io/v1:RayJob", "kubernetes:apps/v1:Deployment"),
        "<pod>",
        ONTO_JOB_ACCOUNT,
        "pod-identity-matches-service-account",
    ),
    Guarded(
        _JOB,
        "<container>.command",
        set_to(["sh", "-c", "chmod -R 777 /volume && sleep infinity"]),
        "root-step-scope",
    ),
    # Nothing lands in the default namespace.
    *each(_NAMESPACED, "metadata.namespace", set_to("default"), "no-default-namespace"),
    *each(_NAMESPACED, "metadata.namespace", REMOVE, "no-default-namespace"),
    Guarded(_RELEASE, "namespace", set_to("default"), "no-default-namespace"),
    # ServiceAccounts and RBAC.
    Guarded(_SA, "automountServiceAccountToken", set_to(True), "service-account-no-automount"),
    *[
        entry
        for key in ("apiGroups", "resources", "verbs")
        for entry in each(_ROLES, f"rules[*].{key}", set_to(["*"]), "rbac-no-wildcards")
    ],
    *each(
        _ROLES,
        "rules",
        appended("read secrets", _rbac_rule("", "secrets", "get", "list", "watch")),
        "rbac-no-secret-access",
    ),
    *[
        entry
        for label, rule in _ESCALATIONS.items()
        for entry in each(_ROLES, "rules", appended(label, rule), "rbac-no-escalation-paths")
    ],
    Guarded(_ROLE, "rules[*].resourceNames", REMOVE, "rbac-writes-by-name"),
    *each(_ROLES, "rules[*]", DELETE_ANY, "rbac-writes-by-name"),
    *each(
        _BINDINGS,
        "roleRef",
        set_to(
            {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            }
        ),
        "rbac-bindings-scoped",
    ),
    *each(
        _BINDINGS,
        "subjects",
        appended(
            "bind every authenticated user",
            {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Group",
                "name": "system:authenticated",
            },
        ),
        "rbac-bindings-scoped",
    ),
    *each(_BINDINGS, "subjects[*].name", set_to("default"), "rbac-bindings-scoped"),
    Guarded(_BINDING, "subjects[*].namespace", set_to("kube-system"), "rbac-bindings-scoped"),
    # A cluster-wide binding has no namespace of its own: its subject must name one.
    Guarded(_CLUSTER_BINDING, "subjects[*].namespace", REMOVE, "rbac-bindings-scoped"),
    # Pod Security Admission on the namespaces the stack creates.
    Guarded(_NAMESPACE, "", DROP, "namespace-pod-security"),
    *[
        Guarded(_NAMESPACE, f'metadata.labels["{_PSA}/{mode}"]', weaken, "namespace-pod-security")
        for mode in ("enforce", "audit", "warn")
        for weaken in (REMOVE, set_to("privileged"))
    ],
    Guarded(
        _NAMESPACE,
        f'metadata.labels["{_PSA}/enforce"]',
        set_to("baseline"),
        "namespace-pod-security",
        when=_restricted,
    ),
    *[
        Guarded(
            _NAMESPACE,
            f'metadata.labels["{_PSA}/{mode}"]',
            set_to("baseline"),
            "namespace-pod-security",
        )
        for mode in ("audit", "warn")
    ],
    *[
        Guarded(
            _NAMESPACE,
            f'metadata.labels["{_PSA}/{mode}-version"]',
            set_to("v1.22"),
            "namespace-pod-security",
        )
        for mode in ("enforce", "audit", "warn")
    ],
    # NetworkPolicies: the default deny, one policy per workload, and peers no wider than the
    # contracts.
    Guarded(_NETPOL, "", DROP, "network-policy-coverage"),
    *[
        Guarded(
            _NETPOL,
            "spec.policyTypes",
            remove_items(f"drop {kind}", lambda x, kind=kind: x == kind),
            "network-policy-coverage",
        )
        for kind in ("Ingress", "Egress")
    ],
    Guarded(_NETPOL, "spec.podSelector", set_to({}), "network-policy-coverage", when=_names_pods),
    *[
        Guarded(
            _NETPOL,
            "spec",
            merged(f"the default deny allows all {key}", {key: [{}]}, when=_default_deny),
            "network-policy-coverage",
        )
        for key in ("ingress", "egress")
    ],
    Guarded(_NETPOL, "spec.ingress[*].from", REMOVE, "network-policy-peers-scoped"),
    Guarded(_NETPOL, "spec.egress[*].to", REMOVE, "network-policy-peers-scoped"),
    *[
        Guarded(
            _NETPOL,
            f"spec.{path}[*].{selector}",
            set_to({}),
            "network-policy-peers-scoped",
            when=_names_pods,
        )
        for path in ("ingress[*].from", "egress[*].to")
        for selector in ("podSelector", "namespaceSelector")
    ],
    Guarded(
        _NETPOL,
        "spec.egress[*].to[*].ipBlock.cidr",
        set_to("0.0.0.0/0"),
        "network-policy-peers-scoped",
    ),
    Guarded(
        _NETPOL,
        "spec.egress[*].to[*].ipBlock.except",
        remove_items("drop the IMDS exception", lambda c: c == _IMDS),
        "network-policy-peers-scoped",
    ),
    Guarded(
        _NETPOL,
        "spec.egress[*].to[*].ipBlock.except",
        remove_items("drop the VPC exception", lambda c: c != _IMDS),
        "network-policy-peers-scoped",
    ),
    Guarded(_NETPOL, "spec.egress[*]", ADDRESS_RULE_ALL_PORTS, "network-policy-peers-scoped"),
    Guarded(_NETPOL, "spec.ingress[*]", OPEN_RULE_ALL_PORTS, "network-policy-peers-scoped"),
    # ... enforced by the VPC CNI's agent (an input of the EKS component).
    Guarded(
        "eks:index:Cluster",
        "vpcCniOptions.enableNetworkPolicy",
        set_to(False),
        "cni-network-policy-enforced",
    ),
    # Services: ClusterIP, or a LoadBalancer limited to source ranges.
    Guarded(_SERVICE, "spec.loadBalancerSourceRanges", REMOVE, "loadbalancer-source-ranges"),
    Guarded(
        _SERVICE,
        "spec.loadBalancerSourceRanges",
        set_to(["0.0.0.0/0"]),
        "loadbalancer-source-ranges",
    ),
    Guarded(_SERVICE, "spec.type", set_to("LoadBalancer"), "loadbalancer-source-ranges"),
    Guarded(_SERVICE, "spec.type", set_to("NodePort"), "service-exposure-restricted"),
    Guarded(
        _SERVICE,
        "spec",
        merged("claim an external IP", {"externalIPs": ["203.0.113.10"]}),
        "service-exposure-restricted",
    ),
    # Secrets and ConfigMaps.
    Guarded(
        _SECRET,
        "type",
        set_to("kubernetes.io/service-account-token"),
        "secret-no-service-account-token",
    ),
    Guarded(
        _CONFIG_MAP,
        "data",
        merged(
            "a credential in a ConfigMap",
            {"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
        ),
        "configmap-no-credentials",
    ),
    # The training operator's init-container template (in a ConfigMap) and the patch mounting it.
    *[
        Guarded(
            _CONFIG_MAP,
            _INIT_TEMPLATE,
            replaced_text(f"template: {old} -> {new}", old, new),
            "operator-init-template-restricted",
        )
        for old, new in (
            ("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"),
            ("privileged: false", "privileged: true"),
            ("- ALL", "- NET_RAW"),
            ("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"),
            ("runAsNonRoot: true", "runAsNonRoot: false"),
            ("type: RuntimeDefault", "type: Unconfined"),
        )
    ],
    Guarded(
        _DEPLOYMENT_PATCH,
        "spec.template.spec.containers[*].volumeMounts[*].readOnly",
        set_to(False),
        "operator-patch-scope",
    ),
    Guarded(
        _DEPLOYMENT_PATCH,
        "spec.template.spec.volumes[*]",
        merged("a hostPath volume", {"hostPath": {"path": "/"}}),
        "operator-patch-scope",
    ),
    Guarded(
        _DEPLOYMENT_PATCH,
        "<pod>",
        merged("hostNetwork", {"hostNetwork": True}),
        "operator-patch-scope",
    ),
    Guarded(
        _DEPLOYMENT_PATCH,
        "<container>",
        merged("a privileged operator", {_SC: {"privileged": True}}),
        "operator-patch-scope",
    ),
    # Volumes: PVs reach their file system for their claim only; claims bind the stack's storage.
    Guarded(_PV, "spec", HOST_PATH_PV, "persistent-volume-scoped"),
    Guarded(_PV, "spec.claimRef", REMOVE, "persistent-volume-scoped"),
    Guarded(_PVC, "spec.storageClassName", REMOVE, "claims-bound-to-stack-storage"),
    Guarded(_PVC, "spec.volumeName", REMOVE, "claims-bound-to-stack-storage"),
    Guarded(
        _STORAGE_CLASS,
        "parameters.directoryPerms",
        set_to("777"),
        "storageclass-efs-access-point-private",
    ),
    *[
        Guarded(
            _STORAGE_CLASS,
            f"parameters.{key}",
            set_to("0"),
            "storageclass-efs-access-point-private",
        )
        for key in ("uid", "gid")
    ],
    Guarded(_STORAGE_CLASS, "provisioner", set_to("ebs.csi.aws.com"), "storageclass-ebs-encrypted"),
    # What the pack sees of the Helm releases and the kustomize overlay (their rendered objects
    # are not in the plan).
    Guarded(_RELEASE, "version", REMOVE, "helm-release-pinned"),
    Guarded(_RELEASE, "version", set_to(">=0.0.0"), "helm-release-pinned"),
    Guarded(
        _RELEASE,
        "repositoryOpts.repo",
        replaced_text("repo over http", "https://", "http://"),
        "helm-release-pinned",
    ),
    Guarded(
        _RELEASE,
        "chart",
        replaced_text("chart over http", "oci://", "http://"),
        "helm-release-pinned",
    ),
    Guarded(
        _RELEASE,
        "values",
        merged("hostNetwork", {"hostNetwork": True}),
        "helm-release-values-hardened",
    ),
    *[
        Guarded(_RELEASE, f"values.{part}.enabled", set_to(True), "helm-release-values-hardened")
        for part in ("gfd", "nfd")
    ],
    Guarded(
        _KUSTOMIZE,
        "directory",
        Weaken("unpinned", lambda v: re.sub(r"\?ref=[^&]*", "", v) if "?ref=" in v else UNCHANGED),
        "kustomize-remote-pinned",
    ),
    Guarded(
        _KUSTOMIZE,
        "directory",
        Weaken(
            "follow master",
            lambda v: re.sub(r"ref=[^&]*", "ref=master", v) if "ref=" in v else UNCHANGED,
        ),
        "kustomize-remote-pinned",
    ),
    Guarded(
        _KUSTOMIZE,
        "directory",
        replaced_text("over http", "https://", "http://"),
        "kustomize-remote-pinned",
    ),
    # Kueue's queue objects (components/kueue_objects.py).
    *[
        Unguarded(
            f"kubernetes:kueue.x-k8s.io/v1beta2:{kind}",
            "queue bookkeeping (quotas, order, preemption): it grants no access and runs no pod; "
            "the stack's flavors add no toleration, so they bring no pod onto a node its own "
            "tolerations keep it off",
        )
        for kind in ("ResourceFlavor", "ClusterQueue", "LocalQueue", "WorkloadPriorityClass")
    ],
]
