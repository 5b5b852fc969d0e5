"""(rule, type, violating props, compliant props) for the rules guarding Kubernetes objects
added with the hardening table (policies/hardening/), and for its stack rules a compliant
stack (`k8s_stack`) next to the same stack with one thing weakened."""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml
from security_cases import IMAGE, spec

PTJ = "kubernetes:kubeflow.org/v1:PyTorchJob"
NS = "kubernetes:core/v1:Namespace"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SVC = "kubernetes:core/v1:Service"
SA = "kubernetes:core/v1:ServiceAccount"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CLUSTER_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
SECRET = "kubernetes:core/v1:Secret"
CM = "kubernetes:core/v1:ConfigMap"
PV = "kubernetes:core/v1:PersistentVolume"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
SC = "kubernetes:storage.k8s.io/v1:StorageClass"
RELEASE = "kubernetes:helm.sh/v3:Release"
KUSTOMIZE = "kubernetes:kustomize/v2:Directory"
PATCH = "kubernetes:apps/v1:DeploymentPatch"
EKS = "eks:index:Cluster"
ADDON = "aws:eks/addon:Addon"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
PSA = "pod-security.kubernetes.io"
SAFE_CONTAINER_SC = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def meta(name: str, namespace: str | None = "training", **extra: Any) -> dict[str, Any]:
    return {"name": name, **({"namespace": namespace} if namespace else {}), **extra}


def role(*rules: dict) -> dict:
    return {"metadata": meta("jobwatch"), "rules": list(rules)}


def rule(resources, verbs, groups=("",), **extra) -> dict:
    return {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs), **extra}


def binding(**overrides) -> dict:
    return {
        "metadata": meta("jobwatch"),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "jobwatch"},
        "subjects": [{"kind": "ServiceAccount", "name": "jobwatch", "namespace": "training"}],
        **overrides,
    }


def init_template(**sc) -> dict:
    container = {
        "name": "init-pytorch",
        "image": "{{.InitContainerImage}}",
        "securityContext": {**SAFE_CONTAINER_SC, **sc},
    }
    return {
        "metadata": meta("training-operator-pytorch-init", "kubeflow"),
        "data": {"initContainer.yaml": yaml.safe_dump([container])},
    }


def operator_patch(container=None, volume=None, **pod_keys) -> dict:
    c = {
        "name": "training-operator",
        "volumeMounts": [{"name": "init", "mountPath": "/etc/config", "readOnly": True}],
        **(container or {}),
    }
    v = {"name": "init", "configMap": {"name": "training-operator-pytorch-init"}, **(volume or {})}
    return {
        "metadata": meta("training-operator", "kubeflow"),
        "spec": {"template": {"spec": {"containers": [c], "volumes": [v], **pod_keys}}},
    }


def release(**overrides) -> dict:
    return {
        "name": "nvidia-device-plugin",
        "chart": "nvidia-device-plugin",
        "version": "0.20.0",
        "namespace": "kube-system",
        "repositoryOpts": {"repo": "https://nvidia.github.io/k8s-device-plugin"},
        "values": {"gfd": {"enabled": False}, "nfd": {"enabled": False}},
        **overrides,
    }


def efs_class(**params) -> dict:
    return {
        "metadata": {"name": "efs-sc"},
        "provisioner": "efs.csi.aws.com",
        "parameters": {
            "provisioningMode": "efs-ap",
            "directoryPerms": "700",
            "uid": "1000",
            "gid": "1000",
            **params,
        },
    }


def fsx_pv(**spec_overrides) -> dict:
    return {
        "metadata": {"name": "training-checkpoints"},
        "spec": {
            "csi": {"driver": "fsx.csi.aws.com", "volumeHandle": "fs-0123"},
            "claimRef": {"namespace": "training", "name": "checkpoints"},
            **spec_overrides,
        },
    }


CHECKPOINTS_REF = {"namespace": "training", "name": "checkpoints"}

K8S_CASES: list[tuple[str, str, dict, dict]] = [
    (
        "pod-read-only-root-filesystem",
        PTJ,
        {
            "metadata": meta("j"),
            "spec": {
                "template": {"spec": spec({"securityContext": {"readOnlyRootFilesystem": None}})}
            },
        },
        {"metadata": meta("j"), "spec": {"template": {"spec": spec()}}},
    ),
    ("no-default-namespace", CM, {"metadata": meta("c", "default")}, {"metadata": meta("c")}),
    ("no-default-namespace", RELEASE, release(namespace=None), release()),
    (
        "cni-network-policy-enforced",
        EKS,
        {"vpcCniOptions": {"enableNetworkPolicy": False}},
        {"vpcCniOptions": {"enableNetworkPolicy": True}},
    ),
    (
        "cni-network-policy-enforced",
        ADDON,
        {"addonName": "vpc-cni", "configurationValues": "{}"},
        {
            "addonName": "vpc-cni",
            "configurationValues": json.dumps({"enableNetworkPolicy": "true"}),
        },
    ),
    (
        "rbac-no-wildcards",
        ROLE,
        role(rule(["pods"], ["*"])),
        role(rule(["pods"], ["get", "list", "watch"])),
    ),
    (
        "rbac-no-secret-access",
        CLUSTER_ROLE,
        role(rule(["secrets"], ["get"])),
        role(rule(["configmaps"], ["get"], resourceNames=["state"])),
    ),
    (
        "rbac-no-escalation-paths",
        ROLE,
        role(rule(["pods"], ["get", "create"])),
        role(rule(["pods", "pods/log"], ["get", "list", "watch"])),
    ),
    (
        "rbac-no-escalation-paths",
        CLUSTER_ROLE,
        role(rule(["clusterroles"], ["bind"], ["rbac.authorization.k8s.io"])),
        role(rule(["pytorchjobs"], ["get"], ["kubeflow.org"])),
    ),
    (
        "rbac-writes-by-name",
        ROLE,
        role(rule(["configmaps"], ["get", "update"])),
        role(rule(["configmaps"], ["get", "update"], resourceNames=["jobwatch-state"])),
    ),
    (
        "rbac-bindings-scoped",
        BINDING,
        binding(subjects=[{"kind": "Group", "name": "system:authenticated"}]),
        binding(),
    ),
    (
        "rbac-bindings-scoped",
        CLUSTER_BINDING,
        binding(roleRef={"kind": "ClusterRole", "name": "cluster-admin"}),
        binding(roleRef={"kind": "ClusterRole", "name": "view"}),
    ),
    (
        "service-account-no-automount",
        SA,
        {"metadata": meta("training")},
        {"metadata": meta("training"), "automountServiceAccountToken": False},
    ),
    (
        "service-exposure-restricted",
        SVC,
        {"metadata": meta("s"), "spec": {"type": "NodePort"}},
        {"metadata": meta("s"), "spec": {"type": "ClusterIP"}},
    ),
    (
        "service-exposure-restricted",
        SVC,
        {"metadata": meta("s"), "spec": {"externalIPs": ["203.0.113.7"]}},
        {"metadata": meta("s"), "spec": {"type": "LoadBalancer"}},
    ),
    (
        "configmap-no-credentials",
        CM,
        {"metadata": meta("c"), "data": {"config.env": "KEY_ID=AKIAIOSFODNN7EXAMPLE"}},
        {"metadata": meta("c"), "data": {"TOKENIZERS_PARALLELISM": "false"}},
    ),
    (
        "secret-no-service-account-token",
        SECRET,
        {"metadata": meta("t"), "type": "kubernetes.io/service-account-token"},
        {"metadata": meta("t"), "type": "Opaque"},
    ),
    ("persistent-volume-scoped", PV, fsx_pv(claimRef=None), fsx_pv()),
    (
        "persistent-volume-scoped",
        PV,
        {
            "metadata": {"name": "h"},
            "spec": {"hostPath": {"path": "/"}, "claimRef": CHECKPOINTS_REF},
        },
        fsx_pv(),
    ),
    ("storageclass-efs-access-point-private", SC, efs_class(directoryPerms="775"), efs_class()),
    (
        "storageclass-efs-access-point-private",
        SC,
        efs_class(uid="0"),
        efs_class(directoryPerms="750"),
    ),
    (
        "operator-init-template-restricted",
        CM,
        init_template(allowPrivilegeEscalation=True),
        init_template(),
    ),
    (
        "operator-init-template-restricted",
        CM,
        init_template(seccompProfile=None),
        {"metadata": meta("jobwatch-state")},
    ),
    ("operator-patch-scope", PATCH, operator_patch(hostNetwork=True), operator_patch()),
    (
        "operator-patch-scope",
        PATCH,
        operator_patch(volume={"hostPath": {"path": "/"}}),
        operator_patch(),
    ),
    ("helm-release-pinned", RELEASE, release(version="0.x"), release()),
    (
        "helm-release-pinned",
        RELEASE,
        release(repositoryOpts={"repo": "http://charts.example.com"}),
        release(chart="oci://public.ecr.aws/karpenter/karpenter", repositoryOpts=None),
    ),
    (
        "helm-release-values-hardened",
        RELEASE,
        release(values={"gfd": {"enabled": True}}),
        release(),
    ),
    (
        "helm-release-values-hardened",
        RELEASE,
        release(
            chart="kuberay-operator",
            namespace="kuberay-system",
            values={"securityContext": {"runAsUser": 0}},
        ),
        release(chart="kuberay-operator", namespace="kuberay-system", values={}),
    ),
    (
        "helm-release-values-hardened",
        RELEASE,
        release(namespace="training"),
        release(),
    ),
    (
        "kustomize-remote-pinned",
        KUSTOMIZE,
        {"directory": "https://github.com/kubeflow/trainer.git//manifests?ref=master"},
        {"directory": "https://github.com/kubeflow/trainer.git//manifests?ref=v1.9.3"},
    ),
    (
        "kustomize-remote-pinned",
        KUSTOMIZE,
        {"directory": "http://github.com/kubeflow/trainer.git//manifests?ref=" + "a" * 40},
        {"directory": "manifests/local-overlay"},
    ),
]


# ----------------------------------------------------------------------------- stack rules

JOB_LABELS = {"trainstack.io/job": "llama", "trainstack.io/role": "pytorch"}
DEV_LABELS = {"app.kubernetes.io/name": "dev-pod"}
VPC_CIDR = "10.42.0.0/16"


def _psa(level: str = "restricted", version: str | None = "v1.34") -> dict[str, str]:
    labels = {}
    for mode in ("enforce", "audit", "warn"):
        labels[f"{PSA}/{mode}"] = level if mode == "enforce" else "restricted"
        if version:
            labels[f"{PSA}/{mode}-version"] = version
    return labels


def _policy(name: str, selector: dict, ingress: list | None, egress: list | None) -> dict:
    spec_: dict[str, Any] = {"podSelector": selector, "policyTypes": ["Ingress", "Egress"]}
    if ingress is not None:
        spec_["ingress"] = ingress
    if egress is not None:
        spec_["egress"] = egress
    return {"metadata": meta(name), "spec": spec_}


def _https_out(*excepted: str) -> dict:
    return {
        "ports": [{"protocol": "TCP", "port": 443}],
        "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32", *excepted]}}],
    }


def _job() -> dict:
    template = {
        "metadata": {
            "labels": dict(JOB_LABELS),
            "annotations": {"trainstack.io/pod-identity-association": "job-id"},
        },
        "spec": {**spec(), "serviceAccountName": "training", "automountServiceAccountToken": False},
    }
    template["spec"]["containers"][0]["image"] = IMAGE
    return {
        "metadata": meta("llama"),
        "spec": {"pytorchReplicaSpecs": {"Worker": {"template": template}}},
    }


def _dev_pod() -> dict:
    return {
        "metadata": meta("dev-pod", labels=dict(DEV_LABELS)),
        "spec": {**spec(), "automountServiceAccountToken": False},
    }


def k8s_stack() -> list[tuple[Any, str, dict, tuple[str, ...]]]:
    """A small compliant stack: the jobs namespace, its policies, a job with an identity, a dev
    pod behind a source-limited load balancer, a claim on the stack's PV, the cluster and VPC."""
    peers = [{"podSelector": {"matchLabels": dict(JOB_LABELS)}}]
    resources = [
        (EKS, {"version": "1.34"}),
        ("aws:ec2/vpc:Vpc", {"cidrBlock": VPC_CIDR}),
        (NS, {"metadata": {"name": "training", "labels": _psa()}}),
        (NETPOL, _policy("default-deny", {}, None, None)),
        (
            NETPOL,
            _policy(
                "job",
                {"matchLabels": dict(JOB_LABELS)},
                [{"from": peers}],
                [{"to": peers}, _https_out(VPC_CIDR)],
            ),
        ),
        (
            NETPOL,
            _policy(
                "dev-pod",
                {"matchLabels": dict(DEV_LABELS)},
                [{"ports": [{"protocol": "TCP", "port": 2222}]}],
                [_https_out(VPC_CIDR)],
            ),
        ),
        (
            SVC,
            {
                "metadata": meta("dev-pod"),
                "spec": {
                    "type": "LoadBalancer",
                    "selector": dict(DEV_LABELS),
                    "loadBalancerSourceRanges": ["198.51.100.0/24"],
                },
            },
        ),
        (SA, {"metadata": meta("training"), "automountServiceAccountToken": False}),
        (ASSOCIATION, {"namespace": "training", "serviceAccount": "training"}),
        (PTJ, _job()),
        ("kubernetes:core/v1:Pod", _dev_pod()),
        (PV, fsx_pv()),
        (
            PVC,
            {
                "metadata": meta("checkpoints"),
                "spec": {"storageClassName": "", "volumeName": "training-checkpoints"},
            },
        ),
    ]
    names = {ASSOCIATION: ("job", "job-id")}
    return [
        (f"urn:{i}", t, p, names.get(t, (str(p.get("metadata", {}).get("name", t)),)))
        for i, (t, p) in enumerate(copy.deepcopy(resources))
    ]


def _edit(type_: str, name: str | None, change) -> list:
    """The compliant stack with `change(props)` applied to the first `type_` named `name`."""
    out = k8s_stack()
    for _h, t, p, _n in out:
        if t == type_ and (name is None or p.get("metadata", {}).get("name") == name):
            change(p)
            return out
    raise AssertionError(f"no {type_} {name} in the stack")


def _without(type_: str, name: str) -> list:
    return [r for r in k8s_stack() if not (r[1] == type_ and r[2]["metadata"]["name"] == name)]


def _job_spec(p: dict) -> dict:
    return p["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]


# (stack rule, the compliant stack weakened, why) per weakening the rule refuses.
K8S_STACK_CASES: list[tuple[str, list, str]] = [
    (
        "namespace-pod-security",
        _edit(
            NS, "training", lambda p: p["metadata"]["labels"].update({f"{PSA}/enforce": "baseline"})
        ),
        "jobs under baseline",
    ),
    (
        "namespace-pod-security",
        _edit(
            NS, "training", lambda p: p["metadata"]["labels"].update({f"{PSA}/warn": "baseline"})
        ),
        "warn below restricted",
    ),
    (
        "namespace-pod-security",
        _edit(
            NS,
            "training",
            lambda p: p["metadata"]["labels"].update({f"{PSA}/enforce-version": "v1.30"}),
        ),
        "a pin older than the cluster",
    ),
    (
        "namespace-pod-security",
        _without(NS, "training"),
        "workloads in a namespace the stack does not create",
    ),
    ("network-policy-coverage", _without(NETPOL, "default-deny"), "no default deny"),
    ("network-policy-coverage", _without(NETPOL, "job"), "a job selected by no policy"),
    (
        "network-policy-coverage",
        _edit(NETPOL, "job", lambda p: p["spec"].update(policyTypes=["Ingress"])),
        "a job's policy governing ingress only",
    ),
    (
        "network-policy-peers-scoped",
        _edit(NETPOL, "job", lambda p: p["spec"]["ingress"][0].pop("from")),
        "ingress from everyone to a pod no load balancer fronts",
    ),
    (
        "network-policy-peers-scoped",
        _edit(
            NETPOL,
            "job",
            lambda p: p["spec"]["egress"][1]["to"][0]["ipBlock"].update(
                {"except": ["169.254.169.254/32"]}
            ),
        ),
        "the VPC exception dropped without interface endpoints",
    ),
    (
        "network-policy-peers-scoped",
        _edit(SVC, "dev-pod", lambda p: p["spec"].update(type="ClusterIP")),
        "open ingress with no load balancer in front",
    ),
    (
        "service-account-token-only-where-needed",
        _edit(PTJ, "llama", lambda p: _job_spec(p).update(automountServiceAccountToken=True)),
        "a job mounting the token of an account no Role is bound to",
    ),
    (
        "service-account-token-only-where-needed",
        _edit(
            "kubernetes:core/v1:Pod",
            "dev-pod",
            lambda p: p["spec"].pop("automountServiceAccountToken"),
        ),
        "a default-account pod with a token",
    ),
    (
        "pod-identity-matches-service-account",
        _edit(PTJ, "llama", lambda p: _job_spec(p).update(serviceAccountName="jobwatch")),
        "a job moved to another account",
    ),
    (
        "pod-identity-matches-service-account",
        _edit(
            "kubernetes:core/v1:Pod",
            "dev-pod",
            lambda p: p["spec"].update(serviceAccountName="training"),
        ),
        "a pod taking the jobs' identity without declaring it",
    ),
    (
        "claims-bound-to-stack-storage",
        _edit(PVC, "checkpoints", lambda p: p["spec"].pop("storageClassName")),
        "the cluster's default class",
    ),
    (
        "claims-bound-to-stack-storage",
        _edit(PVC, "checkpoints", lambda p: p["spec"].pop("volumeName")),
        "any free PV",
    ),
]

# A TrainJob beside its runtime (components/trainjob.py), and each way it could start pods the
# pack did not check.
TRAINJOB = "kubernetes:trainer.kubeflow.org/v1alpha1:TrainJob"
RUNTIME = "kubernetes:trainer.kubeflow.org/v1alpha1:TrainingRuntime"


def _with_trainjob(**spec_changes: Any) -> list:
    ref = {
        "name": "llama-0123456789",
        "apiGroup": "trainer.kubeflow.org",
        "kind": "TrainingRuntime",
    }
    spec_ = {"runtimeRef": ref, "trainer": {"numNodes": 2, "numProcPerNode": 4}}
    for key_path, value in spec_changes.items():
        *parents, last = key_path.split("__")
        node = spec_
        for part in parents:
            node = node[part]
        node[last] = value
    runtime = {"metadata": meta("llama-0123456789"), "spec": {"mlPolicy": {"torch": {}}}}
    extra = [(RUNTIME, runtime), (TRAINJOB, {"metadata": meta("llama"), "spec": spec_})]
    return [
        *k8s_stack(),
        *[(f"urn:tj{i}", t, p, (p["metadata"]["name"],)) for i, (t, p) in enumerate(extra)],
    ]


K8S_STACK_CASES += [
    (
        "trainjob-runs-its-runtime",
        _with_trainjob(runtimeRef__name="torch-distributed"),
        "a runtime the stack does not declare",
    ),
    (
        "trainjob-runs-its-runtime",
        _with_trainjob(runtimeRef__kind="ClusterTrainingRuntime"),
        "a cluster runtime",
    ),
    (
        "trainjob-runs-its-runtime",
        _with_trainjob(trainer__image="python:3.12"),
        "an image of the TrainJob's own",
    ),
    (
        "trainjob-runs-its-runtime",
        _with_trainjob(runtimePatches=[{"manager": "example.com/p"}]),
        "a runtime patch",
    ),
]
