"""(rule, type, violating props, compliant props) for the rules guarding AWS resources added
with the hardening table (policies/hardening/)."""

from __future__ import annotations

import json

BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
KMS_KEY = "aws:kms/key:Key"
ECR_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
ADDON = "aws:eks/addon:Addon"
SUBNET = "aws:ec2/subnet:Subnet"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
QUEUE = "aws:sqs/queue:Queue"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
CODEBUILD = "aws:codebuild/project:Project"
BUCKET = "aws:s3/bucket:Bucket"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
EKS = "eks:index:Cluster"
EKS_RAW = "aws:eks/cluster:Cluster"
NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
MNG = "eks:index:ManagedNodeGroup"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
FSX = "aws:fsx/lustreFileSystem:LustreFileSystem"

BUCKET_ARN = "arn:aws:s3:::b"
QUEUE_ARN = "arn:aws:sqs:us-west-2:111122223333:q"
TOPIC_ARN = "arn:aws:sns:us-west-2:111122223333:t"
RULE_ARN = "arn:aws:events:us-west-2:111122223333:rule/r"
TLS = {"Bool": {"aws:SecureTransport": "false"}}


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def deny_tls(action: str, resource) -> dict:
    return {
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": resource,
        "Condition": TLS,
    }


def trust(principal, condition=None) -> dict:
    """A role's inputs with a one-statement trust policy."""
    st = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    return {"assumeRolePolicy": doc({**st, **({"Condition": condition} if condition else {})})}


def events_send(condition=None) -> dict:
    st = {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": QUEUE_ARN,
    }
    return {"policy": doc({**st, **({"Condition": condition} if condition else {})})}


def pool(expire: str | None) -> dict:
    spec = {} if expire is None else {"expireAfter": expire}
    return {"spec": {"template": {"spec": spec}}}


def efs_class(**params: str) -> dict:
    return {"metadata": {"name": "efs-sc"}, "provisioner": "efs.csi.aws.com", "parameters": params}


def passrole(resource: str) -> dict:
    return {"policy": doc({"Effect": "Allow", "Action": "iam:PassRole", "Resource": resource})}


AWS_CASES: list[tuple[str, str, dict, dict]] = [
    # TLS only: the bucket Deny must reach the bucket and its objects, under the one condition.
    (
        "resource-policy-tls-only",
        BUCKET_POLICY,
        {"policy": doc(deny_tls("s3:*", [BUCKET_ARN]))},  # objects left out
        {"policy": doc(deny_tls("s3:*", [BUCKET_ARN, BUCKET_ARN + "/*"]))},
    ),
    (
        "resource-policy-tls-only",
        QUEUE_POLICY,
        {"policy": doc(deny_tls("sqs:SendMessage", QUEUE_ARN))},  # receives still over HTTP
        {"policy": doc(deny_tls("sqs:*", QUEUE_ARN))},
    ),
    (
        "resource-policy-tls-only",
        TOPIC_POLICY,
        {"policy": doc({**deny_tls("sns:Publish", TOPIC_ARN), "Condition": {}})},
        {"policy": doc(deny_tls("sns:Publish", TOPIC_ARN))},
    ),
    (
        "resource-policy-not-public",
        TOPIC_POLICY,
        {"policy": doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sns:Publish"})},
        {
            "policy": doc(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": "sns:Publish",
                    "Condition": {"StringEquals": {"AWS:SourceOwner": "111122223333"}},
                }
            )
        },
    ),
    (
        "resource-policy-not-public",
        ECR_POLICY,
        # A wildcard value pins nothing (Security Hub evaluates fixed values only).
        {
            "policy": doc(
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "ecr:BatchGetImage",
                    "Condition": {"StringLike": {"aws:PrincipalAccount": "*"}},
                }
            )
        },
        {
            "policy": doc(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::111122223333:role/node"},
                    "Action": "ecr:BatchGetImage",
                }
            )
        },
    ),
    (
        "resource-policy-not-public",
        KMS_KEY,
        {"policy": doc({"Effect": "Allow", "NotPrincipal": {"AWS": "x"}, "Action": "kms:*"})},
        {
            "policy": doc(
                {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:*"}
            )
        },
    ),
    (
        "resource-policy-service-scoped",
        QUEUE_POLICY,
        events_send(),
        events_send({"ArnEquals": {"aws:SourceArn": [RULE_ARN]}}),
    ),
    (
        "resource-policy-service-scoped",
        TOPIC_POLICY,
        # A negated condition excludes one source and admits all others.
        events_send({"ArnNotEquals": {"aws:SourceArn": RULE_ARN}}),
        events_send({"StringEquals": {"aws:SourceAccount": "111122223333"}}),
    ),
    (
        "s3-bucket-policy-grants-nothing",
        BUCKET_POLICY,
        {
            "policy": doc(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                    "Action": "s3:GetObject",
                    "Resource": BUCKET_ARN + "/*",
                }
            )
        },
        {"policy": doc(deny_tls("s3:*", [BUCKET_ARN, BUCKET_ARN + "/*"]))},
    ),
    ("iam-trust-principals", ROLE, trust("*"), trust({"Service": "pods.eks.amazonaws.com"})),
    (
        "iam-trust-principals",
        ROLE,
        trust({"AWS": "arn:aws:iam::999999999999:root"}),
        trust({"Service": ["ec2.amazonaws.com"]}),
    ),
    (
        "iam-trust-principals",
        ROLE,
        trust(
            {"Federated": "arn:aws:iam::1:oidc-provider/oidc.eks"},
            {"StringEquals": {"oidc.eks:aud": "sts.amazonaws.com"}},
        ),
        trust(
            {"Federated": "arn:aws:iam::1:oidc-provider/oidc.eks"},
            {
                "StringEquals": {
                    "oidc.eks:aud": "sts.amazonaws.com",
                    "oidc.eks:sub": "system:serviceaccount:training:training",
                }
            },
        ),
    ),
    (
        "iam-trust-principals",
        ROLE,
        trust({"Service": "lambda.amazonaws.com"}),
        trust({"Service": "codebuild.amazonaws.com"}),
    ),
    # image.nightlySchedule: EventBridge starts the build with a role it assumes (image.py).
    (
        "iam-trust-principals",
        ROLE,
        trust({"Service": "lambda.amazonaws.com"}),
        trust({"Service": "events.amazonaws.com"}),
    ),
    (
        "iam-trust-principals",
        ROLE,
        trust({"Service": "vpc-flow-logs.amazonaws.com"}),
        trust(
            {"Service": "vpc-flow-logs.amazonaws.com"},
            {"StringEquals": {"aws:SourceAccount": "111122223333"}},
        ),
    ),
    (
        "pod-identity-binding",
        ASSOCIATION,
        {"namespace": "training", "serviceAccount": "default"},
        {"namespace": "training", "serviceAccount": "training"},
    ),
    (
        "pod-identity-binding",
        ASSOCIATION,
        {"namespace": "default", "serviceAccount": "training"},
        {"namespace": "kube-system", "serviceAccount": "karpenter"},
    ),
    (
        "pod-identity-binding",
        ADDON,
        {"podIdentityAssociations": [{"serviceAccount": "default", "roleArn": "r"}]},
        {"podIdentityAssociations": [{"serviceAccount": "ebs-csi-controller-sa", "roleArn": "r"}]},
    ),
    (
        "cloudwatch-addon-no-auto-instrumentation",
        ADDON,
        {"addonName": "amazon-cloudwatch-observability", "configurationValues": "{}"},
        {
            "addonName": "amazon-cloudwatch-observability",
            "configurationValues": json.dumps(
                {"agent": {"config": {"logs": {"metrics_collected": {"kubernetes": {}}}}}}
            ),
        },
    ),
    (
        "cloudwatch-addon-no-auto-instrumentation",
        ADDON,
        {
            "addonName": "amazon-cloudwatch-observability",
            "configurationValues": json.dumps(
                {
                    "agent": {"config": {"logs": {"metrics_collected": {"kubernetes": {}}}}},
                    "manager": {
                        "applicationSignals": {"autoMonitor": {"monitorAllServices": True}}
                    },
                }
            ),
        },
        {"addonName": "coredns"},
    ),
    ("subnet-no-public-ip", SUBNET, {"mapPublicIpOnLaunch": True}, {"mapPublicIpOnLaunch": False}),
    (
        "vpc-default-sg-closed",
        DEFAULT_SG,
        {"ingress": [{"protocol": "-1", "self": True, "fromPort": 0, "toPort": 0}], "egress": []},
        {"ingress": [], "egress": []},
    ),
    ("sqs-encrypted", QUEUE, {"sqsManagedSseEnabled": False}, {"kmsMasterKeyId": "alias/q"}),
    (
        "sns-subscription-tls",
        "aws:sns/topicSubscription:TopicSubscription",
        {"protocol": "http", "endpoint": "http://hooks.example.com/t"},
        {"protocol": "https", "endpoint": "https://hooks.example.com/t"},
    ),
    ("log-group-min-retention", LOG_GROUP, {"retentionInDays": 7}, {"retentionInDays": 30}),
    ("kms-deletion-window", KMS_KEY, {"deletionWindowInDays": 7}, {"deletionWindowInDays": 30}),
    (
        "codebuild-logging",
        CODEBUILD,
        {
            "logsConfig": {
                "cloudwatchLogs": {"status": "DISABLED"},
                "s3Logs": {"status": "DISABLED"},
            }
        },
        {"logsConfig": {"cloudwatchLogs": {"status": "DISABLED"}, "s3Logs": {"status": "ENABLED"}}},
    ),
    (
        "codebuild-logging",
        CODEBUILD,
        {"logsConfig": {"s3Logs": {"status": "ENABLED", "encryptionDisabled": True}}},
        {},  # CodeBuild's default: CloudWatch Logs on
    ),
    (
        "codebuild-customer-key",
        CODEBUILD,
        {"encryptionKey": "arn:aws:kms:us-west-2:1:alias/aws/s3"},
        {"encryptionKey": "arn:aws:kms:us-west-2:1:key/k"},
    ),
    ("s3-no-acls", BUCKET, {"acl": "public-read"}, {"acl": "private"}),
    (
        "s3-sse-customer-key",
        SSE,
        {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]},
        {
            "rules": [
                {
                    "applyServerSideEncryptionByDefault": {
                        "sseAlgorithm": "aws:kms",
                        "kmsMasterKeyId": "arn:aws:kms:us-west-2:1:key/k",
                    }
                }
            ]
        },
    ),
    (
        "eks-endpoint-private-access",
        EKS,
        {"endpointPrivateAccess": False},
        {"endpointPrivateAccess": True},
    ),
    (
        "eks-endpoint-private-access",
        EKS_RAW,
        {"vpcConfig": {}},
        {"vpcConfig": {"endpointPrivateAccess": True}},
    ),
    ("eks-no-default-node-group", EKS, {}, {"skipDefaultNodeGroup": True}),
    ("eks-supported-version", EKS, {"version": "1.29"}, {"version": "1.34"}),
    ("eks-supported-version", EKS_RAW, {"version": "1.31"}, {"version": "1.32"}),
    ("nodepool-expire-after", NODEPOOL, pool("Never"), pool("720h")),
    ("nodepool-expire-after", NODEPOOL, pool("1000h"), pool(None)),  # unset: Karpenter's 720h
    (
        "node-group-hardened",
        MNG,
        {"scalingConfig": {"maxSize": 3}},
        {"launchTemplate": {"id": "lt-1", "version": "1"}},
    ),
    (
        "node-group-hardened",
        MNG,
        {"launchTemplate": {"id": "lt-1"}, "remoteAccess": {"ec2SshKey": "k"}},
        {"launchTemplate": {"name": "system"}},
    ),
    (
        "no-public-node-ips",
        NODECLASS,
        {"spec": {"associatePublicIPAddress": True}},
        {"spec": {"associatePublicIPAddress": False}},
    ),
    ("iam-passrole-scoped", ROLE_POLICY, passrole("*"), passrole("arn:aws:iam::1:role/node")),
    (
        "iam-passrole-scoped",
        ROLE_POLICY,
        passrole("arn:aws:iam::111122223333:role/*"),
        passrole("arn:aws:iam::111122223333:role/trainstack-*"),
    ),
    (
        "iam-no-service-wildcard-actions",
        ROLE_POLICY,
        {"policy": doc({"Effect": "Allow", "Action": "s3:*", "Resource": BUCKET_ARN})},
        {"policy": doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": BUCKET_ARN})},
    ),
    (
        "efs-access-point-identity",
        STORAGE_CLASS,
        efs_class(provisioningMode="efs-ap", fileSystemId="fs-1"),
        efs_class(provisioningMode="efs-ap", fileSystemId="fs-1", uid="1000", gid="1000"),
    ),
    (
        "fsx-lustre-copy-tags-to-backups",
        FSX,
        {"deploymentType": "PERSISTENT_2"},
        {"deploymentType": "PERSISTENT_2", "copyTagsToBackups": True},
    ),
]
