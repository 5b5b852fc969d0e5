"""What in the plan is hardening, and which mandatory rule guards each piece: the one table the
mutation harness (tests/policies/test_hardening.py) reads.

For every resource type any plan of the stack holds there is either a `Guarded` entry per
security-relevant input (its path in the resource's inputs, how it is weakened, and the rule
that must refuse the weakened plan), or one `Unguarded` entry saying why nothing in that type
is security-relevant. The harness weakens each input wherever a real plan has it, runs the
pack, and fails if the named rule does not report it as mandatory; it also fails on a plan
type with no entry and on an entry no plan exercises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .mutate import REMOVE, UNCHANGED, Weaken, parse, remove_items, set_to
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

# Resource-level weakening: the path "" with REMOVE drops the resource from the plan.
DROP = REMOVE


@dataclass(frozen=True)
class Guarded:
    type: str
    path: str
    weaken: Weaken
    rule: str  # a mandatory rule (resource or stack) that must report the weakened plan
    # Only values this picks are weakened (a Deny statement, the jobs namespace's policy).
    when: Callable[[Any], bool] | None = None

    @property
    def segments(self) -> tuple[str, ...]:
        return parse(self.path)

    @property
    def weakening(self) -> Weaken:
        """The weakening, restricted to the values `when` picks."""
        when = self.when
        if when is None:
            return self.weaken
        base = self.weaken
        return Weaken(base.label, lambda v: base.apply(v) if when(v) else UNCHANGED)

    def __str__(self) -> str:
        return f"{self.type} {self.path or '(the resource)'}: {self.weaken.label} -> {self.rule}"


@dataclass(frozen=True)
class Unguarded:
    type: str
    reason: str


# The kinds holding pod templates that the stack renders (base.WORKLOADS lists every kind the
# rules read; an entry for a kind no plan has would weaken nothing).
RENDERED_WORKLOADS = (
    "kubernetes:kubeflow.org/v1:PyTorchJob",
    "kubernetes:ray.io/v1:RayJob",
    "kubernetes:core/v1:Pod",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:batch/v1:Job",
)


def each(types: Iterable[str], path: str, weaken: Weaken, rule: str) -> list[Guarded]:
    """The same entry for several types (every workload kind holding a pod template)."""
    return [Guarded(t, path, weaken, rule) for t in types]


# --- AWS resources -----------------------------------------------------------------------------
_PUBLIC_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
AWS: list[Guarded | Unguarded] = [
    *[
        Guarded(_PUBLIC_BLOCK, flag, set_to(False), "s3-public-access-blocked")
        for flag in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    ],
    Guarded(_PUBLIC_BLOCK, "", DROP, "s3-bucket-protected"),
]

# --- Kubernetes objects, Helm releases and the kustomize overlay ---------------------------------
# Pod templates: what the restricted profile and the stack set, what a pod runs and as whom.
_WORKLOADS = RENDERED_WORKLOADS
_JOB = "kubernetes:batch/v1:Job"  # only the FSx root step, which runs as root by design
_NON_ROOT_STEP = tuple(t for t in _WORKLOADS if t != _JOB)
_SC = "securityContext"
_DEPLOYMENT_PATCH = "kubernetes:apps/v1:DeploymentPatch"
_NAMESPACE = "kubernetes:core/v1:Namespace"
_NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
_SERVICE = "kubernetes:core/v1:Service"
_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
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
        ("kubernetes:kubeflow.org/v1:PyTorchJob", "kubernetes:apps/v1:Deployment"),
        "<container>.env[*]",
        SECRET_AS_LITERAL,
        "no-plaintext-secrets-in-env",
    ),
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
        Guarded(_ROLE, f"rules[*].{key}", set_to(["*"]), "rbac-no-wildcards")
        for key in ("apiGroups", "resources", "verbs")
    ],
    Guarded(
        _ROLE,
        "rules",
        appended("read secrets", _rbac_rule("", "secrets", "get", "list", "watch")),
        "rbac-no-secret-access",
    ),
    *[
        Guarded(_ROLE, "rules", appended(label, rule), "rbac-no-escalation-paths")
        for label, rule in _ESCALATIONS.items()
    ],
    Guarded(_ROLE, "rules[*].resourceNames", REMOVE, "rbac-writes-by-name"),
    Guarded(_ROLE, "rules[*]", DELETE_ANY, "rbac-writes-by-name"),
    Guarded(
        _BINDING,
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
    Guarded(
        _BINDING,
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
    Guarded(_BINDING, "subjects[*].name", set_to("default"), "rbac-bindings-scoped"),
    Guarded(_BINDING, "subjects[*].namespace", set_to("kube-system"), "rbac-bindings-scoped"),
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
]

# --- Pulumi components and providers -------------------------------------------------------------
# The project's own components register no inputs: everything they decide is in the resources
# they create, which the entries above cover.
_OWN_COMPONENTS = (
    "trainstack:artifacts:Artifacts",
    "trainstack:cluster:Cluster",
    "trainstack:gpu:GpuPlugins",
    "trainstack:image:TrainerImage",
    "trainstack:jobs:TrainingJob",
    "trainstack:jobs:Workloads",
    "trainstack:karpenter:Karpenter",
    "trainstack:network:Network",
    "trainstack:notifications:Notifications",
    "trainstack:operators:Operators",
    "trainstack:platform:Platform",
    "trainstack:serving:EngineImage",
    "trainstack:serving:ServingJob",
    "trainstack:storage:CheckpointStorage",
)
COMPONENTS: list[Guarded | Unguarded] = [
    *[
        Unguarded(t, "a trainstack component: no inputs; what it decides is in its resources")
        for t in _OWN_COMPONENTS
    ],
    Unguarded(
        "pulumi:providers:kubernetes",
        "how `pulumi up` reaches the API server (a kubeconfig whose user runs `aws eks get-token`):"
        " it decides who deploys, which the cluster's access entries govern, not what is deployed",
    ),
    Unguarded(
        "pulumi-python:dynamic:Resource",
        "the image build trigger (components/image_build.py): names the CodeBuild project, bucket"
        " and repository to start a build in; the project's settings are guarded on the Project",
    ),
]

TABLE: list[Guarded | Unguarded] = AWS + KUBERNETES + COMPONENTS


def guarded(type_: str) -> list[Guarded]:
    return [e for e in TABLE if isinstance(e, Guarded) and e.type == type_]


def covered_types() -> set[str]:
    return {e.type for e in TABLE}
