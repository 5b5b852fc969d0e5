"""Rule inputs shared by the policy tests: resource types, a compliant pod and its variants,
and (rule, type, violating props, compliant props) for every rule outside security_cases.py;
helpers reading the example stack's captured inputs."""

from __future__ import annotations

import copy

from support import plan

from policies import BY_NAME

EKS = "eks:index:Cluster"
EKS_RAW = "aws:eks/cluster:Cluster"
ECR = "aws:ecr/repository:Repository"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
MNG = "eks:index:ManagedNodeGroup"
PTJ = "kubernetes:kubeflow.org/v1:PyTorchJob"
POD = "kubernetes:core/v1:Pod"
SVC = "kubernetes:core/v1:Service"
CODEBUILD = "aws:codebuild/project:Project"
SG = "aws:ec2/securityGroup:SecurityGroup"
IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/trainstack-dev/trainer@sha256:" + "ab" * 32
TAGS = {"managed-by": "pulumi"}


def pod(container=None, **spec):
    """A Pod whose one container is `container` merged over a compliant default."""
    c = {"name": "main", "image": IMAGE, **(container or {})}
    return {"metadata": {"name": "p"}, "spec": {"containers": [c], **spec}}


def gpus(requests, limits):
    res = {}
    if requests is not None:
        res["requests"] = {"nvidia.com/gpu": requests}
    if limits is not None:
        res["limits"] = {"nvidia.com/gpu": limits}
    return {"resources": res}


def nodepool(limits):
    return {
        "spec": {
            "limits": limits,
            "template": {
                "metadata": {"labels": {"trainstack.io/gpu": "true"}},
                "spec": {"taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]},
            },
        }
    }


def ingress(cidr):
    return {
        "ingress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": [cidr]}],
        "tags": TAGS,
    }


# (rule, type, violating props, compliant props)
CASES = [
    (
        "eks-endpoint-not-public",
        EKS,
        {"endpointPublicAccess": True},
        {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]},
    ),
    (
        "eks-endpoint-not-public",
        EKS_RAW,
        {"vpcConfig": {"publicAccessCidrs": ["0.0.0.0/0"]}},
        {"vpcConfig": {"endpointPublicAccess": False}},
    ),
    ("eks-secrets-encrypted", EKS, {}, {"encryptionConfigKeyArn": "arn:aws:kms:k"}),
    (
        "eks-secrets-encrypted",
        EKS_RAW,
        {"encryptionConfig": {"resources": ["secrets"]}},
        {"encryptionConfig": {"provider": {"keyArn": "arn"}, "resources": ["secrets"]}},
    ),
    (
        "eks-control-plane-logging",
        EKS,
        {"enabledClusterLogTypes": ["api"]},
        {"enabledClusterLogTypes": ["api", "audit", "authenticator"]},
    ),
    (
        "eks-api-authentication",
        EKS,
        {"authenticationMode": "CONFIG_MAP"},
        {"authenticationMode": "API"},
    ),
    (
        "eks-api-authentication",
        EKS_RAW,
        {},
        {"accessConfig": {"authenticationMode": "API_AND_CONFIG_MAP"}},
    ),
    (
        "ecr-scan-on-push",
        ECR,
        {"imageScanningConfiguration": {"scanOnPush": False}},
        {"imageScanningConfiguration": {"scanOnPush": True}},
    ),
    (
        "ecr-immutable-tags",
        ECR,
        {"imageTagMutability": "MUTABLE"},
        {"imageTagMutability": "IMMUTABLE"},
    ),
    (
        "ecr-kms-encryption",
        ECR,
        {"encryptionConfigurations": [{"encryptionType": "AES256"}]},
        {"encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": "arn"}]},
    ),
    (
        "imdsv2-required",
        LT,
        {"metadataOptions": {"httpTokens": "optional"}},
        {"metadataOptions": {"httpTokens": "required"}},
    ),
    (
        "imdsv2-required",
        NODECLASS,
        {"spec": {}},
        {"spec": {"metadataOptions": {"httpTokens": "required"}}},
    ),
    (
        "node-volumes-encrypted",
        LT,
        {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}]},
        {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}]},
    ),
    (
        "node-volumes-encrypted",
        NODECLASS,
        {"spec": {"blockDeviceMappings": [{"ebs": {"volumeSize": "100Gi"}}]}},
        {"spec": {"blockDeviceMappings": [{"ebs": {"encrypted": True}}]}},
    ),
    (
        "no-public-node-ips",
        EKS,
        {"nodeAssociatePublicIpAddress": True},
        {"nodeAssociatePublicIpAddress": False},
    ),
    (
        "no-public-node-ips",
        LT,
        {"networkInterfaces": [{"associatePublicIpAddress": "true"}]},
        {"networkInterfaces": [{"associatePublicIpAddress": "false"}]},
    ),
    (
        "gpu-nodepool-limits",
        NODEPOOL,
        nodepool({"nodes": 4}),
        nodepool({"nodes": 4, "nvidia.com/gpu": 16}),
    ),
    (
        "node-group-max-size",
        MNG,
        {"scalingConfig": {"minSize": 0}},
        {"scalingConfig": {"minSize": 0, "maxSize": 2}},
    ),
    (
        "no-privileged-containers",
        PTJ,
        {
            "spec": {
                "pytorchReplicaSpecs": {
                    "Worker": {"template": pod({"securityContext": {"privileged": True}})}
                }
            }
        },
        {
            "spec": {
                "pytorchReplicaSpecs": {
                    "Worker": {"template": pod({"securityContext": {"privileged": False}})}
                }
            }
        },
    ),
    (
        "no-privileged-containers",
        "kubernetes:apps/v1:DaemonSet",
        {
            "metadata": {"name": "debug"},
            "spec": {"template": pod({"securityContext": {"privileged": True}})},
        },
        # Device plugins are allowed by name (the default allow-list).
        {
            "metadata": {"name": "nvidia-device-plugin", "namespace": "kube-system"},
            "spec": {"template": pod({"securityContext": {"privileged": True}})},
        },
    ),
    ("no-host-namespaces", POD, pod(hostNetwork=True), pod(hostNetwork=False)),
    (
        "no-host-path-volumes",
        POD,
        pod(volumes=[{"name": "h", "hostPath": {"path": "/"}}]),
        pod(volumes=[{"name": "shm", "emptyDir": {"medium": "Memory"}}]),
    ),
    ("gpu-limits-equal-requests", POD, pod(gpus(2, 1)), pod(gpus(2.0, 2))),
    ("gpu-limits-equal-requests", PTJ, pod(gpus(1, None)), pod(gpus(None, 1))),
    (
        "job-images-from-ecr",
        POD,
        pod({"image": "docker.io/pytorch/pytorch@sha256:" + "0" * 64}),
        pod(),
    ),
    ("job-images-by-digest", POD, pod({"image": IMAGE.split("@")[0] + ":latest"}), pod()),
    (
        "no-plaintext-secrets-in-env",
        POD,
        pod({"env": [{"name": "HF_TOKEN", "value": "hf_x"}]}),
        pod(
            {
                "env": [
                    {"name": "TOKENIZERS_PARALLELISM", "value": "false"},
                    {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf"}}},
                ]
            }
        ),
    ),
    (
        "s3-encryption",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        {"bucket": "b", "rules": []},
        {
            "bucket": "b",
            "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}],
        },
    ),
    (
        "s3-versioning",
        "aws:s3/bucketVersioning:BucketVersioning",
        {"versioningConfiguration": {"status": "Suspended"}},
        {"versioningConfiguration": {"status": "Enabled"}},
    ),
    (
        "s3-public-access-blocked",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        {"blockPublicAcls": True, "blockPublicPolicy": False},
        {
            "blockPublicAcls": True,
            "blockPublicPolicy": True,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": True,
        },
    ),
    (
        "codebuild-privileged-only-image-build",
        CODEBUILD,
        {"name": "dev-tests", "environment": {"privilegedMode": True}},
        {"name": "dev-trainer", "environment": {"privilegedMode": True}},
    ),
    (
        "codebuild-no-plaintext-secrets",
        CODEBUILD,
        {"environment": {"environmentVariables": [{"name": "GITHUB_TOKEN", "value": "x"}]}},
        {
            "environment": {
                "environmentVariables": [
                    {"name": "GITHUB_TOKEN", "type": "SECRETS_MANAGER", "value": "gh-token"},
                    {"name": "REPOSITORY_URI", "type": "PLAINTEXT", "value": "x"},
                ]
            }
        },
    ),
    (
        "log-group-retention",
        "aws:cloudwatch/logGroup:LogGroup",
        {"name": "g"},
        {"retentionInDays": 30.0},
    ),
    (
        "kms-key-rotation",
        "aws:kms/key:Key",
        {"enableKeyRotation": False},
        {"enableKeyRotation": True},
    ),
    ("no-world-ingress", SG, ingress("0.0.0.0/0"), ingress("10.0.0.0/16")),
    (
        "no-world-ingress",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        {"type": "ingress", "ipv6CidrBlocks": ["::/0"]},
        {"type": "egress", "cidrBlocks": ["0.0.0.0/0"]},
    ),
    (
        "loadbalancer-source-ranges",
        SVC,
        {"spec": {"type": "LoadBalancer"}},
        {"spec": {"type": "LoadBalancer", "loadBalancerSourceRanges": ["203.0.113.0/24"]}},
    ),
    ("required-tags", "aws:s3/bucket:Bucket", {"tags": {"team": "ml"}}, {"tags": TAGS}),
]


PUBLIC = {"public": True, "publicAccessCidrs": ["0.0.0.0/0"], "allowPublicFromAnywhere": True}


def _captured(type_, stack="dev"):
    """Plain inputs of the first captured resource of `type_`, as a copy safe to edit."""
    return copy.deepcopy(plan(stack).plan.of_type(type_)[0].plain_inputs)


def _broken_rules(type_, props, before=None):
    """Rules `props` breaks; with `before` (the unedited props), only those the edit added."""
    broken = {r.name for r in BY_NAME.values() if r(type_, props)}
    return broken - _broken_rules(type_, before) if before is not None else broken


def _job_container(props):
    return props["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
