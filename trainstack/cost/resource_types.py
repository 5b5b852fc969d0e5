"""Why each resource type the program registers, other than the priced ones (resources.py
PRICERS), adds nothing to the idle figure. Keyed by Pulumi type token, as in the plan's
resources.json; a type missing from every table is reported as unknown (resources.py)."""

from __future__ import annotations

# Billed by use: $0 while nothing uses them, and a use-based bill nobody can predict from config.
USAGE: dict[str, str] = {
    "aws:cloudwatch/logGroup:LogGroup": (
        "CloudWatch Logs: per GB ingested and per GB-month kept (retentionInDays bounds it)"
    ),
    "aws:s3/bucket:Bucket": "S3: per GB-month stored and per request (empty when created)",
    "aws:ecr/repository:Repository": (
        "ECR: per GB-month of images stored (its lifecycle policy bounds how many)"
    ),
    "aws:codebuild/project:Project": "CodeBuild: per build minute, only while an image builds",
    "pulumi-python:dynamic:Resource": (
        "the trainer image build: CodeBuild minutes when the trainer source changes"
    ),
    "aws:efs/fileSystem:FileSystem": (
        "EFS: per GB-month of bytes stored (none when created) and, in elastic throughput "
        "mode, per GB read and written; nothing is provisioned"
    ),
    "aws:sns/topic:Topic": (
        "SNS: no charge for a topic; publishes and deliveries per million past the free tier "
        "(a few messages per build or job)"
    ),
    "aws:sns/topicSubscription:TopicSubscription": "SNS: email deliveries, per message",
    "aws:sqs/queue:Queue": (
        "SQS: no charge for a queue; requests per million past the free tier (Karpenter "
        "long-polls it for interruption events; SQS-managed encryption, no KMS key)"
    ),
    "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation": (
        "S3 requests and transfer when FSx imports or exports"
    ),
    "aws:codebuild/webhook:Webhook": "CodeBuild minutes of the builds it starts",
    "aws:ec2/flowLog:FlowLog": (
        "VPC flow logs: per GB delivered to CloudWatch Logs (rejected traffic only), kept by "
        "its log group"
    ),
}

# Billed while idle, but with no rate in the price table: said, never guessed.
MISSING: dict[str, str] = {
    "aws:secretsmanager/secret:Secret": (
        "Secrets Manager: a monthly charge per secret (the Docker Hub token ECR pulls the vLLM "
        "image with), plus API calls; no rate in prices.yaml"
    ),
}

# No charge of their own while idle.
_KUBERNETES = "a Kubernetes object: runs on, or configures, the nodes priced above"
FREE: dict[str, str] = {
    **{
        t: "IAM: no charge"
        for t in (
            "aws:iam/role:Role",
            "aws:iam/rolePolicy:RolePolicy",
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            "aws:iam/serviceLinkedRole:ServiceLinkedRole",
        )
    },
    **{
        t: "VPC plumbing: no charge"
        for t in (
            "aws:ec2/vpc:Vpc",
            "aws:ec2/subnet:Subnet",
            "aws:ec2/routeTable:RouteTable",
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
            "aws:ec2/internetGateway:InternetGateway",
            "aws:ec2/securityGroup:SecurityGroup",
            "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "aws:ec2/tag:Tag",
        )
    },
    "aws:ec2/launchTemplate:LaunchTemplate": "a template: its instances are priced with the pools",
    "aws:ec2/placementGroup:PlacementGroup": "no charge for a placement group",
    "aws:kms/alias:Alias": "no charge for an alias (the key is priced)",
    "aws:kms/grant:Grant": "no charge for a grant (the key is priced)",
    **{
        t: "a setting of its bucket: no charge"
        for t in (
            "aws:s3/bucketPolicy:BucketPolicy",
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "aws:s3/bucketVersioning:BucketVersioning",
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        )
    },
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": "a setting of its repository: no charge",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "a setting of its repository: no charge",
    "aws:ecr/pullThroughCacheRule:PullThroughCacheRule": (
        "ECR: no charge for a rule; what it caches is billed as its repository's storage"
    ),
    "aws:sqs/queuePolicy:QueuePolicy": "a setting of its queue: no charge",
    "aws:sns/topicPolicy:TopicPolicy": "a setting of its topic: no charge",
    "aws:cloudwatch/eventRule:EventRule": (
        "EventBridge: AWS service events on the default bus are free"
    ),
    "aws:cloudwatch/eventTarget:EventTarget": "EventBridge: a rule's target, no charge",
    "aws:eks/addon:Addon": (
        "EKS add-ons: no charge of their own; their pods run on the nodes priced above (the "
        "CloudWatch agent's observations are priced per node)"
    ),
    "aws:eks/accessEntry:AccessEntry": "EKS access entry: no charge",
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": "EKS Pod Identity: no charge",
    "pulumi:providers:kubernetes": "a Pulumi provider, not a cloud resource",
    "pulumi:providers:aws": "a Pulumi provider, not a cloud resource",
    "pulumi:pulumi:Stack": "the Pulumi stack itself",
    "kubernetes:helm.sh/v3:Release": (
        "an operator chart: pods on the system nodes (none of the pinned charts creates a "
        "load balancer or a volume)"
    ),
    "kubernetes:kustomize/v2:Directory": "the training operator: pods on the system nodes",
    **{
        f"kubernetes:{t}": _KUBERNETES
        for t in (
            "core/v1:Namespace",
            "core/v1:ServiceAccount",
            "core/v1:ConfigMap",
            "core/v1:Secret",
            "core/v1:Pod",
            "apps/v1:Deployment",
            "apps/v1:DeploymentPatch",
            "networking.k8s.io/v1:NetworkPolicy",
            "rbac.authorization.k8s.io/v1:Role",
            "rbac.authorization.k8s.io/v1:RoleBinding",
            "rbac.authorization.k8s.io/v1:ClusterRole",
            "rbac.authorization.k8s.io/v1:ClusterRoleBinding",
            "batch/v1:Job",
            "storage.k8s.io/v1:StorageClass",
        )
    },
    **{
        f"kubernetes:{t}": (
            "a training job: its GPU nodes are priced in its pool's ceiling, not at idle"
        )
        for t in (
            "kubeflow.org/v1:PyTorchJob",
            "ray.io/v1:RayJob",
            "trainer.kubeflow.org/v1alpha1:TrainJob",
        )
    },
    **{
        f"kubernetes:kueue.x-k8s.io/v1beta2:{kind}": (
            "a Kueue queue object: bookkeeping in the API server, no pod or node of its own"
        )
        for kind in ("ResourceFlavor", "ClusterQueue", "LocalQueue", "WorkloadPriorityClass")
    },
    "kubernetes:trainer.kubeflow.org/v1alpha1:TrainingRuntime": (
        "a TrainJob's blueprint: no pods of its own; the job's GPU nodes are priced in its pool"
    ),
}

# Priced in another line of the report.
INCLUDED: dict[str, str] = {
    "eks:index:ManagedNodeGroup": (
        "priced per node group (desired size, with root disks) under the pools"
    ),
    "kubernetes:karpenter.sh/v1:NodePool": "priced per NodePool: zero nodes at idle",
    "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass": "its nodes are priced with their NodePool",
    "kubernetes:core/v1:PersistentVolume": "priced with the file system it binds",
    "aws:secretsmanager/secretVersion:SecretVersion": "the value of its secret, priced with it",
    "aws:efs/mountTarget:MountTarget": "billed with its EFS file system (no charge of its own)",
}
