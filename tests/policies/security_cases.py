"""Inputs of the security rules (policies/rules/pod_security.py, nodes.py, iam.py,
storage.py): a pod, PyTorchJob, RayJob or device plugin meeting the Pod Security Standards
"restricted" profile and its variants, IAM documents, and (rule, type, violating props,
compliant props) for every rule these tests add."""

from __future__ import annotations

import copy

from policies.rules import pod_security

IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/trainstack-dev/trainer@sha256:" + "ab" * 32
POD = "kubernetes:core/v1:Pod"
PTJ = "kubernetes:kubeflow.org/v1:PyTorchJob"
RAYJOB = "kubernetes:ray.io/v1:RayJob"
DS = "kubernetes:apps/v1:DaemonSet"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY = "aws:iam/policy:Policy"
ROLE = "aws:iam/role:Role"
ATTACH = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
SC = "kubernetes:storage.k8s.io/v1:StorageClass"
RESTRICTED = [
    r.name for r in pod_security.RULES if r.name != "privileged-exception-device-plugins-only"
]

# A container and pod meeting the restricted profile, as the hardened pods will render them.
SAFE_CONTAINER = {
    "name": "main",
    "image": IMAGE,
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    },
}
SAFE_POD_SC = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "runAsGroup": 1000,
    "fsGroup": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def spec(container=None, pod_sc=None, **extra):
    """A restricted pod spec; `container` is merged over the safe container's securityContext
    (a key set to None is removed), `pod_sc` over the safe pod securityContext."""
    c = copy.deepcopy(SAFE_CONTAINER)
    for k, v in (container or {}).items():
        if k == "securityContext":
            for sk, sv in v.items():
                if sv is None:
                    c[k].pop(sk, None)
                else:
                    c[k][sk] = sv
        else:
            c[k] = v
    sc = {**SAFE_POD_SC, **(pod_sc or {})}
    sc = {k: v for k, v in sc.items() if v is not None}
    return {
        "securityContext": sc,
        "containers": [c],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
        **extra,
    }


def pod(container=None, pod_sc=None, meta=None, **extra):
    return {
        "metadata": {"name": "p", "namespace": "training", **(meta or {})},
        "spec": spec(container, pod_sc, **extra),
    }


def job(container=None, pod_sc=None, **extra):
    """A PyTorchJob whose Worker replica is the pod under test (the Master stays compliant)."""
    return {
        "metadata": {"name": "j", "namespace": "training"},
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {"template": {"spec": spec()}},
                "Worker": {"template": {"metadata": {}, "spec": spec(container, pod_sc, **extra)}},
            }
        },
    }


def rayjob(where: str, pod_spec: dict) -> dict:
    """A RayJob whose head, a worker group or the submitter carries `pod_spec`."""
    head = {"template": {"spec": spec()}}
    workers = [{"groupName": "gpu", "template": {"spec": spec()}}]
    submitter = {"spec": spec()}
    if where == "head":
        head = {"template": {"spec": pod_spec}}
    elif where == "worker":
        workers.append({"groupName": "cpu", "template": {"spec": pod_spec}})
    else:
        submitter = {"spec": pod_spec}
    return {
        "metadata": {"name": "r", "namespace": "training"},
        "spec": {
            "rayClusterSpec": {"headGroupSpec": head, "workerGroupSpecs": workers},
            "submitterPodTemplate": submitter,
        },
    }


def plugin(name="nvidia-device-plugin", namespace="kube-system", type_=DS):
    privileged = spec(
        {"securityContext": {"privileged": True}},
        volumes=[{"name": "dev", "hostPath": {"path": "/var/lib/kubelet"}}],
    )
    body = {"template": {"spec": privileged}}
    if type_ == POD:
        return {"metadata": {"name": name, "namespace": namespace}, "spec": privileged}
    return {"metadata": {"name": name, "namespace": namespace}, "spec": body}


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


# (rule, type, violating props, compliant props): every rule this file adds.
SECURITY_CASES = [
    (
        "no-privileged-containers",
        PTJ,
        job({"securityContext": {"privileged": True}}),
        job({"securityContext": {"privileged": False}}),
    ),
    ("no-privileged-containers", DS, plugin("debug"), plugin()),
    (
        "pod-capabilities-restricted",
        POD,
        pod({"securityContext": {"capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}}}),
        pod({"securityContext": {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}),
    ),
    (
        "pod-no-privilege-escalation",
        POD,
        pod({"securityContext": {"allowPrivilegeEscalation": None}}),
        pod(),
    ),
    (
        "pod-run-as-non-root",
        PTJ,
        job(pod_sc={"runAsNonRoot": None}),
        job(pod_sc={"runAsNonRoot": None}, container={"securityContext": {"runAsNonRoot": True}}),
    ),
    ("pod-run-as-non-root-user", POD, pod(pod_sc={"runAsUser": 0.0}), pod()),
    (
        "pod-seccomp-restricted",
        RAYJOB,
        rayjob("worker", spec(pod_sc={"seccompProfile": None})),
        rayjob(
            "worker",
            spec(
                pod_sc={"seccompProfile": None},
                container={
                    "securityContext": {
                        "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}
                    }
                },
            ),
        ),
    ),
    ("no-host-namespaces", POD, pod(hostNetwork=True), pod(hostNetwork=False)),
    (
        "pod-no-host-ports",
        POD,
        pod({"ports": [{"containerPort": 29500, "hostPort": 29500}]}),
        pod({"ports": [{"containerPort": 29500}]}),
    ),
    (
        "no-host-path-volumes",
        POD,
        pod(volumes=[{"name": "h", "hostPath": {"path": "/"}}]),
        pod(volumes=[{"name": "shm", "emptyDir": {"medium": "Memory"}}]),
    ),
    (
        "pod-volume-types-restricted",
        POD,
        pod(volumes=[{"name": "n", "nfs": {"server": "fs", "path": "/"}}]),
        pod(
            volumes=[
                {"name": "c", "persistentVolumeClaim": {"claimName": "checkpoints"}},
                {"name": "k", "projected": {"sources": []}},
            ]
        ),
    ),
    (
        "pod-apparmor-default",
        POD,
        pod(pod_sc={"appArmorProfile": {"type": "Unconfined"}}),
        pod(pod_sc={"appArmorProfile": {"type": "RuntimeDefault"}}),
    ),
    (
        "pod-selinux-default",
        POD,
        pod({"securityContext": {"seLinuxOptions": {"type": "spc_t"}}}),
        pod({"securityContext": {"seLinuxOptions": {"type": "container_t", "level": "s0:c1"}}}),
    ),
    (
        "pod-proc-mount-default",
        POD,
        pod({"securityContext": {"procMount": "Unmasked"}}),
        pod({"securityContext": {"procMount": "Default"}}),
    ),
    (
        "pod-sysctls-safe",
        POD,
        pod(pod_sc={"sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]}),
        pod(pod_sc={"sysctls": [{"name": "net.ipv4.tcp_keepalive_time", "value": "60"}]}),
    ),
    ("privileged-exception-device-plugins-only", DS, plugin(namespace="training"), plugin()),
    # The FSx root step's namespace holds nothing else (policies/rules/root_step.py).
    ("root-step-scope", POD, pod(meta={"namespace": "trainstack-volumes"}), pod()),
    (
        "imds-hop-limit",
        LT,
        {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 2}},
        {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1.0}},
    ),
    (
        "imds-hop-limit",
        NODECLASS,
        {"spec": {"metadataOptions": {"httpTokens": "required"}}},
        {"spec": {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1}}},
    ),
    (
        "iam-no-wildcard-grants",
        ROLE_POLICY,
        {"role": "r", "policy": policy(allow("s3:*"))},
        {
            "role": "r",
            "policy": policy(
                allow("ecr:GetAuthorizationToken"), allow("s3:*", "arn:aws:s3:::bucket/*")
            ),
        },
    ),
    (
        "iam-no-wildcard-grants",
        ROLE,
        {"name": "r", "inlinePolicies": [{"name": "p", "policy": policy(allow("*"))}]},
        {"name": "r", "inlinePolicies": [{"name": "p", "policy": policy(allow("s3:GetObject"))}]},
    ),
    (
        "iam-data-access-scoped",
        ROLE_POLICY,
        {"role": "job", "policy": policy(allow(["s3:GetObject", "s3:PutObject"]))},
        {
            "role": "job",
            "policy": policy(allow(["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::b/data/*")),
        },
    ),
    ("efs-encrypted", "aws:efs/fileSystem:FileSystem", {"encrypted": False}, {"encrypted": True}),
    (
        "fsx-lustre-customer-key",
        "aws:fsx/lustreFileSystem:LustreFileSystem",
        {"deploymentType": "PERSISTENT_2", "storageCapacity": 1200},
        {"deploymentType": "PERSISTENT_2", "kmsKeyId": "arn:aws:kms:us-west-2:1:key/k"},
    ),
    ("ebs-volumes-encrypted", "aws:ebs/volume:Volume", {"size": 10}, {"encrypted": True}),
    (
        "sns-topic-encrypted",
        "aws:sns/topic:Topic",
        {"name": "jobs"},
        {"name": "jobs", "kmsMasterKeyId": "arn:aws:kms:us-west-2:123456789012:key/k"},
    ),
    (
        "storageclass-ebs-encrypted",
        SC,
        {
            "metadata": {"name": "gp3"},
            "provisioner": "ebs.csi.aws.com",
            "parameters": {"type": "gp3"},
        },
        {
            "metadata": {"name": "gp3"},
            "provisioner": "ebs.csi.aws.com",
            "parameters": {"type": "gp3", "encrypted": "true"},
        },
    ),
]
