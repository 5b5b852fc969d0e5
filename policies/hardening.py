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

from . import weakenings_aws as wa
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
    Guarded(
        _EKS, "vpcCniOptions.enableNetworkPolicy", set_to(False), "eks-network-policy-enforced"
    ),
    Guarded(_EKS, "skipDefaultNodeGroup", set_to(False), "eks-no-default-node-group"),
    Guarded(_EKS, "version", set_to("1.29"), "eks-supported-version"),
    Guarded(
        "aws:eks/addon:Addon",
        "podIdentityAssociations[*].serviceAccount",
        set_to("default"),
        "pod-identity-binding",
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
