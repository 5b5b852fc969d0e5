"""The hardening table's AWS resources (and Karpenter's node objects): what in each is
security-relevant and the rule that guards it."""

from __future__ import annotations

from ..mutate import REMOVE, remove_items, set_to
from . import weaken_aws as wa
from .entries import DROP, Guarded, Unguarded

# --- AWS resources -----------------------------------------------------------------------------
# Karpenter's EC2NodeClass and NodePool are here too: they are the node-level hardening.
_S3 = "aws:s3/"
_PUBLIC_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
_BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
_QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
_TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
_KMS_KEY = "aws:kms/key:Key"
_ROLE = "aws:iam/role:Role"
_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
_EKS = "eks:index:Cluster"
_LT = "aws:ec2/launchTemplate:LaunchTemplate"
_NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
_SG = "aws:ec2/securityGroup:SecurityGroup"
_STATEMENTS = "policy.@json.Statement"
_STATEMENT = "policy.@json.Statement[*]"


def _policy_entries(type_: str, *, public: bool = False, service: bool = False) -> list[Guarded]:
    """A bucket, queue or topic policy: its TLS-only Deny, the policy itself, and the conditions
    that keep its grants to everyone (`public`) or to a service (`service`) to this stack."""
    entries = [
        Guarded(
            type_,
            _STATEMENTS,
            remove_items("drop the TLS Deny", wa.tls_deny),
            "resource-policy-tls-only",
        ),
        Guarded(type_, _STATEMENT, wa.DROP_CONDITION, "resource-policy-tls-only", wa.tls_deny),
        Guarded(type_, _STATEMENT, wa.NARROW_ACTION, "resource-policy-tls-only", wa.tls_deny),
        Guarded(type_, "", DROP, "tls-only-policy-attached"),
    ]
    if public:
        entries.append(
            Guarded(
                type_,
                _STATEMENT,
                wa.DROP_CONDITION,
                "resource-policy-not-public",
                wa.allow_to_everyone,
            )
        )
    if service:
        entries.append(
            Guarded(
                type_,
                _STATEMENT,
                wa.DROP_CONDITION,
                "resource-policy-service-scoped",
                wa.allow_to_service,
            )
        )
    return entries


_NETWORK_PLUMBING = (
    "routes and gateways decide where traffic may go, not who may reach a node: nodes and "
    "endpoints hold no public IP (subnet-no-public-ip, no-public-node-ips) and admit only what "
    "their security groups do (no-world-ingress, sg-ingress-within-vpc), so no input of this "
    "resource can expose anything the others keep private"
)
AWS: list[Guarded | Unguarded] = [
    # S3: the bucket's protections are resources of their own; the bucket must have each of them.
    Unguarded(
        "aws:s3/bucket:Bucket",
        "its inputs are a name prefix, tags and forceDestroy; what protects it (encryption, "
        "versioning, public access block, TLS-only policy) are separate resources whose removal "
        "s3-bucket-protected and tls-only-policy-attached refuse and whose inputs have entries",
    ),
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
    Guarded(_SSE, "rules", REMOVE, "s3-encryption"),
    Guarded(
        _SSE,
        "rules[*].applyServerSideEncryptionByDefault.sseAlgorithm",
        set_to("AES256"),
        "s3-sse-customer-key",
    ),
    Guarded(
        _SSE,
        "rules[*].applyServerSideEncryptionByDefault.kmsMasterKeyId",
        REMOVE,
        "s3-sse-customer-key",
    ),
    Guarded(_SSE, "", DROP, "s3-bucket-protected"),
    Guarded(
        "aws:s3/bucketVersioning:BucketVersioning",
        "versioningConfiguration.status",
        set_to("Suspended"),
        "s3-versioning",
    ),
    Guarded("aws:s3/bucketVersioning:BucketVersioning", "", DROP, "s3-bucket-protected"),
    Unguarded(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "it expires old versions and aborts stale multipart uploads: storage cost only; without "
        "it S3 keeps more data, never exposes any",
    ),
    *_policy_entries(_BUCKET_POLICY),
    Guarded(
        _BUCKET_POLICY,
        "policy.@json.Statement[*].Resource",
        remove_items("stop at the bucket", lambda r: str(r).endswith("/*")),
        "resource-policy-tls-only",
    ),
    Guarded(_BUCKET_POLICY, _STATEMENTS, wa.GRANT_OTHER_ACCOUNT, "s3-bucket-policy-grants-nothing"),
    # SQS, SNS and the EventBridge rules that feed them.
    Guarded("aws:sqs/queue:Queue", "sqsManagedSseEnabled", set_to(False), "sqs-encrypted"),
    *_policy_entries(_QUEUE_POLICY, service=True),
    Guarded("aws:sns/topic:Topic", "kmsMasterKeyId", REMOVE, "sns-topic-encrypted"),
    *_policy_entries(_TOPIC_POLICY, public=True, service=True),
    Guarded(
        "aws:sns/topicSubscription:TopicSubscription",
        "protocol",
        set_to("http"),
        "sns-subscription-tls",
    ),
    Unguarded(
        "aws:cloudwatch/eventRule:EventRule",
        "a rule on the default bus only selects events AWS emits into this account; it holds no "
        "data and no role (targets are reached through their resource policies, whose entries "
        "pin EventBridge to these rules' ARNs), and where its events go is the EventTarget's arn",
    ),
    Guarded(
        "aws:cloudwatch/eventTarget:EventTarget",
        "arn",
        set_to(f"arn:aws:sns:us-west-2:{wa.OTHER_ACCOUNT}:elsewhere"),
        "eventbridge-targets-in-stack",
    ),
    # KMS.
    Guarded(_KMS_KEY, "enableKeyRotation", set_to(False), "kms-key-rotation"),
    Guarded(_KMS_KEY, "deletionWindowInDays", set_to(7), "kms-deletion-window"),
    Guarded(
        _KMS_KEY, _STATEMENT, wa.EVERYONE, "resource-policy-not-public", wa.unconditioned_allow
    ),
    Guarded(
        _KMS_KEY,
        _STATEMENT,
        wa.DROP_CONDITION,
        "resource-policy-service-scoped",
        wa.allow_to_service,
    ),
    Unguarded(
        "aws:kms/alias:Alias",
        "a name for a key: bucket encryption, ECR, CodeBuild, FSx, SNS and EKS name their keys "
        "by ARN, so re-pointing the alias changes no encryption and no permission",
    ),
    # IAM: who may assume a role, and what its policies grant.
    Guarded(
        _ROLE, "assumeRolePolicy.@json.Statement[*].Principal", set_to("*"), "iam-trust-principals"
    ),
    Guarded(
        _ROLE,
        "assumeRolePolicy.@json.Statement[*].Principal",
        set_to({"AWS": wa.OTHER_ROOT}),
        "iam-trust-principals",
    ),
    Guarded(
        _ROLE,
        "assumeRolePolicy.@json.Statement[*]",
        wa.DROP_CONDITION,
        "iam-trust-principals",
        wa.with_condition,
    ),
    Guarded(
        _ROLE_POLICY,
        _STATEMENT,
        wa.ANY_ACTION_ANYWHERE,
        "iam-no-wildcard-grants",
        wa.unconditioned_allow,
    ),
    Guarded(_ROLE_POLICY, _STATEMENT, wa.EVERY_RESOURCE, "iam-data-access-scoped", wa.data_access),
    Guarded(_ROLE_POLICY, _STATEMENT, wa.EVERY_RESOURCE, "iam-passrole-scoped", wa.passes_roles),
    Guarded(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "policyArn",
        set_to("arn:aws:iam::aws:policy/AdministratorAccess"),
        "iam-no-wildcard-grants",
    ),
    # EKS: the control plane, add-ons, Pod Identity and access entries.
    Guarded(_EKS, "publicAccessCidrs", set_to(["0.0.0.0/0"]), "eks-endpoint-not-public"),
    Guarded(_EKS, "publicAccessCidrs", REMOVE, "eks-endpoint-not-public"),
    Guarded(_EKS, "endpointPrivateAccess", set_to(False), "eks-endpoint-private-access"),
    Guarded(_EKS, "encryptionConfigKeyArn", REMOVE, "eks-secrets-encrypted"),
    Guarded(
        _EKS,
        "enabledClusterLogTypes",
        remove_items("drop the audit log", lambda t: t == "audit"),
        "eks-control-plane-logging",
    ),
    Guarded(
        _EKS,
        "enabledClusterLogTypes",
        remove_items("drop the authenticator log", lambda t: t == "authenticator"),
        "eks-control-plane-logging",
    ),
    Guarded(_EKS, "authenticationMode", set_to("CONFIG_MAP"), "eks-api-authentication"),
    Guarded(_EKS, "nodeAssociatePublicIpAddress", set_to(True), "no-public-node-ips"),
    Guarded(_EKS, "skipDefaultNodeGroup", set_to(False), "eks-no-default-node-group"),
    Guarded(_EKS, "version", set_to("1.29"), "eks-supported-version"),
    Guarded(
        "aws:eks/addon:Addon",
        "podIdentityAssociations[*].serviceAccount",
        set_to("default"),
        "pod-identity-binding",
    ),
    # The CloudWatch add-on's own agent configuration keeps Application Signals off.
    Guarded(
        "aws:eks/addon:Addon",
        "configurationValues.@json.agent.config",
        REMOVE,
        "cloudwatch-addon-no-auto-instrumentation",
    ),
    Guarded(
        "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        "serviceAccount",
        set_to("default"),
        "pod-identity-binding",
    ),
    Guarded(
        "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        "namespace",
        set_to("default"),
        "pod-identity-binding",
    ),
    Guarded(
        "aws:eks/accessEntry:AccessEntry",
        "principalArn",
        set_to(f"arn:aws:iam::{wa.OTHER_ACCOUNT}:role/admin"),
        "eks-node-access-entries",
    ),
    # Nodes: managed node groups, their launch templates, Karpenter's node classes and pools.
    Guarded("eks:index:ManagedNodeGroup", "launchTemplate", REMOVE, "node-group-hardened"),
    Guarded("eks:index:ManagedNodeGroup", "scalingConfig.maxSize", REMOVE, "node-group-max-size"),
    Guarded(_LT, "metadataOptions.httpTokens", set_to("optional"), "imdsv2-required"),
    Guarded(_LT, "metadataOptions.httpPutResponseHopLimit", set_to(2), "imds-hop-limit"),
    Guarded(_LT, "blockDeviceMappings[*].ebs.encrypted", set_to("false"), "node-volumes-encrypted"),
    Guarded(_LT, "networkInterfaces[*]", wa.PUBLIC_IP, "no-public-node-ips"),
    Guarded(_NODE_CLASS, "spec.metadataOptions.httpTokens", set_to("optional"), "imdsv2-required"),
    Guarded(
        _NODE_CLASS, "spec.metadataOptions.httpPutResponseHopLimit", set_to(2), "imds-hop-limit"
    ),
    Guarded(
        _NODE_CLASS,
        "spec.blockDeviceMappings[*].ebs.encrypted",
        set_to(False),
        "node-volumes-encrypted",
    ),
    Guarded(_NODE_CLASS, "spec", wa.PUBLIC_IP_KARPENTER, "no-public-node-ips"),
    Guarded(
        "kubernetes:karpenter.sh/v1:NodePool",
        'spec.limits["nvidia.com/gpu"]',
        REMOVE,
        "gpu-nodepool-limits",
    ),
    Guarded(
        "kubernetes:karpenter.sh/v1:NodePool",
        "spec.template.spec.expireAfter",
        set_to("Never"),
        "nodepool-expire-after",
    ),
    Unguarded(
        "aws:cloudwatch/dashboard:Dashboard",
        "a layout of graphs over metrics: it grants no access (reading it and its metrics is "
        "the viewer's own IAM permission) and holds no data",
    ),
    Unguarded(
        "aws:ec2/placementGroup:PlacementGroup",
        "only packs EFA nodes close together (strategy cluster); it grants and exposes nothing",
    ),
    # The VPC.
    Unguarded(
        "aws:ec2/vpc:Vpc",
        "its inputs are its CIDR and DNS switches; its protections are separate resources (the "
        "emptied default security group, the flow log) that vpc-default-sg-and-flow-logs requires",
    ),
    Guarded("aws:ec2/subnet:Subnet", "mapPublicIpOnLaunch", set_to(True), "subnet-no-public-ip"),
    Guarded(
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "ingress",
        wa.WORLD_RULE,
        "vpc-default-sg-closed",
    ),
    Guarded(
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "egress",
        wa.WORLD_RULE,
        "vpc-default-sg-closed",
    ),
    Guarded(
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "",
        DROP,
        "vpc-default-sg-and-flow-logs",
    ),
    Guarded(
        "aws:ec2/flowLog:FlowLog", "trafficType", set_to("ACCEPT"), "vpc-default-sg-and-flow-logs"
    ),
    Guarded("aws:ec2/flowLog:FlowLog", "", DROP, "vpc-default-sg-and-flow-logs"),
    Guarded(_SG, "ingress[*]", wa.OPEN_TO_INTERNET, "no-world-ingress"),
    Guarded(_SG, "ingress[*].cidrBlocks", set_to(["10.0.0.0/8"]), "sg-ingress-within-vpc"),
    Unguarded(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "the stack's ingress rules admit the Lustre ports from the FSx file systems' own group "
        "(referencedSecurityGroupId), whose only members are FSx's interfaces; a CIDR source "
        "instead would meet no-world-ingress and sg-ingress-within-vpc, which read these rules",
    ),
    Unguarded(
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "no endpoint policy is rendered (AWS's default full-access policy applies, the callers' "
        "IAM policies decide), and an interface endpoint admits only what its security group "
        "does, which has entries; what else it holds (service, subnets, private DNS) routes",
    ),
    Unguarded("aws:ec2/internetGateway:InternetGateway", _NETWORK_PLUMBING),
    Unguarded("aws:ec2/natGateway:NatGateway", _NETWORK_PLUMBING),
    Unguarded(
        "aws:ec2/eip:Eip", "the NAT gateways' addresses: outbound only, " + _NETWORK_PLUMBING
    ),
    Unguarded("aws:ec2/routeTable:RouteTable", _NETWORK_PLUMBING),
    Unguarded("aws:ec2/routeTableAssociation:RouteTableAssociation", _NETWORK_PLUMBING),
    Unguarded(
        "aws:ec2/tag:Tag",
        "tags the cluster security group for Karpenter's discovery; which groups nodes get is "
        "the EC2NodeClass's selector, and every group the stack declares has entries",
    ),
    # Storage.
    Guarded("aws:efs/fileSystem:FileSystem", "encrypted", set_to(False), "efs-encrypted"),
    Unguarded(
        "aws:efs/mountTarget:MountTarget",
        "its reach is its subnet's (subnet-no-public-ip) and its security group's (no-world-"
        "ingress, sg-ingress-within-vpc); EFS.6's public-subnet check is the subnet's entry",
    ),
    Guarded(
        "aws:fsx/lustreFileSystem:LustreFileSystem", "kmsKeyId", REMOVE, "fsx-lustre-customer-key"
    ),
    # Images, builds and their logs.
    Guarded(
        "aws:ecr/repository:Repository",
        "imageScanningConfiguration.scanOnPush",
        set_to(False),
        "ecr-scan-on-push",
    ),
    Guarded(
        "aws:ecr/repository:Repository",
        "imageTagMutability",
        set_to("MUTABLE"),
        "ecr-immutable-tags",
    ),
    Guarded(
        "aws:ecr/repository:Repository",
        "encryptionConfigurations[*].encryptionType",
        set_to("AES256"),
        "ecr-kms-encryption",
    ),
    Guarded("aws:ecr/lifecyclePolicy:LifecyclePolicy", "", DROP, "ecr-lifecycle-policy"),
    Guarded(
        "aws:ecr/repositoryPolicy:RepositoryPolicy",
        _STATEMENT,
        wa.EVERYONE,
        "resource-policy-not-public",
        wa.unconditioned_allow,
    ),
    Unguarded(
        "aws:ecr/pullThroughCacheRule:PullThroughCacheRule",
        "it only says where cache misses are fetched from; pods pull the engine by a pinned "
        "digest, so an upstream that holds other content fails the pull instead of running it",
    ),
    Guarded(
        "aws:codebuild/project:Project",
        "logsConfig.cloudwatchLogs.status",
        set_to("DISABLED"),
        "codebuild-logging",
    ),
    Guarded("aws:codebuild/project:Project", "encryptionKey", REMOVE, "codebuild-customer-key"),
    Guarded(
        "aws:codebuild/project:Project",
        "environment.environmentVariables",
        wa.PLAINTEXT_SECRET,
        "codebuild-no-plaintext-secrets",
    ),
    Guarded(
        "aws:cloudwatch/logGroup:LogGroup", "retentionInDays", set_to(1), "log-group-min-retention"
    ),
    Unguarded(
        "aws:secretsmanager/secret:Secret",
        "Secrets Manager encrypts every secret at rest (with its AWS managed key: the stack sets "
        "no kmsKeyId to weaken) and no resource policy is rendered; its one reader is ECR's "
        "pull-through cache, through the cache rule",
    ),
    Unguarded(
        "aws:secretsmanager/secretVersion:SecretVersion",
        "it holds the Docker Hub token itself (a Pulumi secret in config and state); it has no "
        "setting that could be weakened",
    ),
]
