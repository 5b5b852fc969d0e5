"""AWS Security Hub's Foundational Security Best Practices: the controls for the resource types
the stack creates (S3, KMS, SQS, SNS, EKS, ECR, EC2 with its VPC, subnets, security groups,
launch templates, EIPs and NAT gateways, IAM, EFS, FSx, CodeBuild, Secrets Manager).

IDs and titles are the standard's list as published on its page (SOURCE, v1.0.0, read
2026-12-07). Severities are from AWS's per-service control pages (…/userguide/<service>-
controls.html) where they could be read here (S3, KMS, SQS.1, SNS, EKS.1, ECR, EC2.55-60 and
EC2.170-181, EFS, FSx, Secrets Manager); for the older EC2, IAM, CodeBuild and EKS.2 controls
from the same pages as AWS published them in its awsdocs/aws-security-hub-user-guide repository
(last revision 2023-05). Not found on an AWS page: EKS.3 and EKS.8 (MEDIUM, as Security Hub's
control metadata records them in a public copy of DescribeStandardsControls output) and SQS.3
(CRITICAL, as third-party control references rate it, like SNS.4 and KMS.5 on their AWS pages).

Left out, as the stack creates none of the resource types they evaluate: EC2.1 (EBS
snapshots), EC2.20/EC2.171 (Site-to-Site VPN), EC2.23 (transit gateways), EC2.51 (Client VPN),
EC2.173 (Spot Fleet requests; Karpenter launches through CreateFleet), S3.19/S3.24/S3.25
(access points, Multi-Region Access Points, directory buckets), FSx.1/FSx.3-5 (OpenZFS, ONTAP,
Windows), CodeBuild.7 (report groups) and EventBridge.3 (custom event buses; the stack's rules
are on the default bus). CloudWatch Logs has no control in the standard.
"""

from __future__ import annotations

from . import Baseline, Control

# AWS Security Hub CSPM User Guide, "AWS Foundational Security Best Practices standard", and
# its per-service control pages (<service>-controls.html beside it), read 2026-12-07.
SOURCE = "https://docs.aws.amazon.com/securityhub/latest/userguide/fsbp-standard.html"
CRITICAL, HIGH, MEDIUM, LOW = "CRITICAL", "HIGH", "MEDIUM", "LOW"
BUCKET = "AWS::S3::Bucket"
VPC = "AWS::EC2::VPC"
INSTANCE = "AWS::EC2::Instance"
ACCOUNT = "AWS::::Account"
SECRET = "AWS::SecretsManager::Secret"

# Why the interface-endpoint controls are not enforced: one reason, five controls.
_ENDPOINTS = (
    "Not enforced: interface endpoints are a per-stack cost choice (trainstack:network "
    "interfaceEndpoints, about $7 a month per endpoint per zone); with it on, the stack creates "
    "the ecr.api, ecr.dkr, sts, sqs and ec2 endpoints, with it off those calls leave through "
    "the NAT gateway, over TLS. Security Hub reports this control for a VPC without the endpoint."
)
_NO_USERS = "Not applicable: the stack creates no IAM user; every identity it makes is a role."
_ROTATION = (
    "Not enforced: the stack's one secret is the Docker Hub access token ECR's pull-through "
    "cache reads; Secrets Manager rotates a secret through a Lambda that re-issues it, and the "
    "stack has no way to issue Docker Hub tokens, so the token is rotated by replacing the "
    "trainstack:dockerHubToken secret. Security Hub reports this control for it."
)
_BACKUPS = (
    "Not enforced: the EFS file system holds checkpoint working copies; a job that sets "
    "uploadCheckpoints copies them to the versioned, KMS-encrypted artifacts bucket, and AWS "
    "Backup of the file system (daily, billed per GB) is left to the operator. Security Hub "
    "reports this control for it."
)

FSBP = Baseline(
    name="AWS Foundational Security Best Practices",
    version="v1.0.0",
    source=SOURCE,
    controls=(
        # --- S3 ---------------------------------------------------------------------------------
        Control(
            "FSBP S3.1",
            "S3 general purpose buckets should have block public access settings enabled",
            MEDIUM,
            ACCOUNT,
            "Account-level: the account's S3 Block Public Access is set outside any stack; the "
            "stack blocks public access on each of its buckets (S3.8).",
        ),
        Control(
            "FSBP S3.2",
            "S3 general purpose buckets should block public read access",
            CRITICAL,
            BUCKET,
        ),
        Control(
            "FSBP S3.3",
            "S3 general purpose buckets should block public write access",
            CRITICAL,
            BUCKET,
        ),
        Control(
            "FSBP S3.5",
            "S3 general purpose buckets should require requests to use SSL",
            MEDIUM,
            BUCKET,
        ),
        Control(
            "FSBP S3.6",
            "S3 general purpose bucket policies should restrict access to other AWS accounts",
            HIGH,
            BUCKET,
        ),
        Control("FSBP S3.8", "S3 general purpose buckets should block public access", HIGH, BUCKET),
        Control(
            "FSBP S3.9",
            "S3 general purpose buckets should have server access logging enabled",
            MEDIUM,
            BUCKET,
            "Not enforced: the stack keeps no access-log bucket (server access logs need a bucket "
            "of their own, on SSE-S3, with a policy for the logging service); requests to the "
            "buckets are recorded by the account's CloudTrail data events where the account "
            "enables them. Security Hub reports this control for the stack's buckets.",
        ),
        Control(
            "FSBP S3.12",
            "ACLs should not be used to manage user access to S3 general purpose buckets",
            MEDIUM,
            BUCKET,
        ),
        Control(
            "FSBP S3.13",
            "S3 general purpose buckets should have Lifecycle configurations",
            LOW,
            BUCKET,
            "Met by construction: both buckets the stack creates (components/artifacts.py, "
            "image.py) declare an aws.s3.BucketLifecycleConfiguration.",
        ),
        # --- KMS --------------------------------------------------------------------------------
        Control(
            "FSBP KMS.1",
            "IAM customer managed policies should not allow decryption actions on all KMS keys",
            MEDIUM,
            "AWS::IAM::Policy",
        ),
        Control(
            "FSBP KMS.2",
            "IAM principals should not have IAM inline policies that allow decryption actions on "
            "all KMS keys",
            MEDIUM,
            "AWS::IAM::Role",
        ),
        Control(
            "FSBP KMS.3",
            "AWS KMS keys should not be deleted unintentionally",
            CRITICAL,
            "AWS::KMS::Key",
        ),
        Control(
            "FSBP KMS.5", "KMS keys should not be publicly accessible", CRITICAL, "AWS::KMS::Key"
        ),
        # --- SQS, SNS ---------------------------------------------------------------------------
        Control(
            "FSBP SQS.1", "Amazon SQS queues should be encrypted at rest", MEDIUM, "AWS::SQS::Queue"
        ),
        Control(
            "FSBP SQS.3",
            "SQS queue access policies should not allow public access",
            CRITICAL,
            "AWS::SQS::Queue",
        ),
        Control(
            "FSBP SNS.4",
            "SNS topic access policies should not allow public access",
            CRITICAL,
            "AWS::SNS::Topic",
        ),
        # --- EKS --------------------------------------------------------------------------------
        Control(
            "FSBP EKS.1",
            "EKS cluster endpoints should not be publicly accessible",
            HIGH,
            "AWS::EKS::Cluster",
            "Not enforced as the control reads it: its AWS Config rule (eks-endpoint-no-public-"
            "access) fails any public endpoint, whatever its CIDRs, and `pulumi up` installs the "
            "charts through the API server, so the example stacks keep a public endpoint limited "
            "to trainstack:cluster.endpoint.publicAccessCidrs (eks-endpoint-not-public refuses "
            "one open to 0.0.0.0/0). Security Hub reports this control for such a cluster; with "
            "endpoint.public: false it passes.",
        ),
        Control(
            "FSBP EKS.2",
            "EKS clusters should run on a supported Kubernetes version",
            HIGH,
            "AWS::EKS::Cluster",
        ),
        Control(
            "FSBP EKS.3",
            "EKS clusters should use encrypted Kubernetes secrets",
            MEDIUM,
            "AWS::EKS::Cluster",
        ),
        Control(
            "FSBP EKS.8",
            "EKS clusters should have audit logging enabled",
            MEDIUM,
            "AWS::EKS::Cluster",
        ),
        # --- ECR --------------------------------------------------------------------------------
        Control(
            "FSBP ECR.1",
            "ECR private repositories should have image scanning configured",
            HIGH,
            "AWS::ECR::Repository",
        ),
        Control(
            "FSBP ECR.2",
            "ECR private repositories should have tag immutability configured",
            MEDIUM,
            "AWS::ECR::Repository",
        ),
        Control(
            "FSBP ECR.3",
            "ECR repositories should have at least one lifecycle policy configured",
            MEDIUM,
            "AWS::ECR::Repository",
        ),
        # --- EC2: VPC, subnets, security groups, launch templates, instances ---------------------
        Control(
            "FSBP EC2.2",
            "VPC default security groups should not allow inbound or outbound traffic",
            HIGH,
            "AWS::EC2::SecurityGroup",
        ),
        Control(
            "FSBP EC2.3",
            "Attached Amazon EBS volumes should be encrypted at-rest",
            MEDIUM,
            "AWS::EC2::Volume",
        ),
        Control(
            "FSBP EC2.4",
            "Stopped EC2 instances should be removed after a specified time period",
            MEDIUM,
            INSTANCE,
            "Met by construction: nodes are never stopped; managed node groups and Karpenter "
            "terminate and replace them, and a stopped state is runtime, not a plan input.",
        ),
        Control("FSBP EC2.6", "VPC flow logging should be enabled in all VPCs", MEDIUM, VPC),
        Control(
            "FSBP EC2.7",
            "EBS default encryption should be enabled",
            MEDIUM,
            ACCOUNT,
            "Account-level: EBS encryption by default is a per-Region account setting outside any "
            "stack; every volume the stack defines is encrypted explicitly (EC2.3).",
        ),
        Control(
            "FSBP EC2.8",
            "EC2 instances should use Instance Metadata Service Version 2 (IMDSv2)",
            HIGH,
            INSTANCE,
        ),
        Control(
            "FSBP EC2.9",
            "Amazon EC2 instances should not have a public IPv4 address",
            HIGH,
            INSTANCE,
        ),
        Control(
            "FSBP EC2.10",
            "Amazon EC2 should be configured to use VPC endpoints that are created for the "
            "Amazon EC2 service",
            MEDIUM,
            VPC,
            _ENDPOINTS,
        ),
        Control(
            "FSBP EC2.15",
            "Amazon EC2 subnets should not automatically assign public IP addresses",
            MEDIUM,
            "AWS::EC2::Subnet",
        ),
        Control(
            "FSBP EC2.16",
            "Unused Network Access Control Lists should be removed",
            LOW,
            "AWS::EC2::NetworkAcl",
            "Not applicable: the stack creates no network ACL; its subnets use the VPC's default "
            "one, which is never unused.",
        ),
        Control(
            "FSBP EC2.17",
            "Amazon EC2 instances should not use multiple ENIs",
            LOW,
            INSTANCE,
            "Not enforced, by design: the VPC CNI gives pods VPC addresses from secondary network "
            "interfaces it attaches to each node, so nodes carry several ENIs.",
        ),
        Control(
            "FSBP EC2.18",
            "Security groups should only allow unrestricted incoming traffic for authorized ports",
            HIGH,
            "AWS::EC2::SecurityGroup",
        ),
        Control(
            "FSBP EC2.19",
            "Security groups should not allow unrestricted access to ports with high risk",
            CRITICAL,
            "AWS::EC2::SecurityGroup",
        ),
        Control(
            "FSBP EC2.21",
            "Network ACLs should not allow ingress from 0.0.0.0/0 to port 22 or port 3389",
            MEDIUM,
            "AWS::EC2::NetworkAcl",
            "Not enforced: the stack creates no network ACL and leaves the VPC's default ACL as "
            "AWS makes it (all traffic allowed); filtering is the security groups' (no-world-"
            "ingress, sg-ingress-within-vpc) on instances without public addresses. A stateless "
            "ACL denying 22/3389 would also cut NAT return traffic on those ports.",
        ),
        Control(
            "FSBP EC2.24",
            "Amazon EC2 paravirtual instance types should not be used",
            MEDIUM,
            INSTANCE,
            "Met by construction: nodes boot EKS-optimized AL2023 AMIs (managed node groups' "
            "amiType AL2023_*, Karpenter's al2023 alias), which are HVM images; a paravirtual "
            "instance needs a paravirtual AMI.",
        ),
        Control(
            "FSBP EC2.25",
            "Amazon EC2 launch templates should not assign public IPs to network interfaces",
            HIGH,
            "AWS::EC2::LaunchTemplate",
        ),
        Control(
            "FSBP EC2.55",
            "VPCs should be configured with an interface endpoint for ECR API",
            MEDIUM,
            VPC,
            _ENDPOINTS,
        ),
        Control(
            "FSBP EC2.56",
            "VPCs should be configured with an interface endpoint for Docker Registry",
            MEDIUM,
            VPC,
            _ENDPOINTS,
        ),
        Control(
            "FSBP EC2.57",
            "VPCs should be configured with an interface endpoint for Systems Manager",
            MEDIUM,
            VPC,
            "Not enforced: the stack creates no Systems Manager endpoint (nodes reach SSM through "
            "the NAT gateway, over TLS); see also the interface-endpoint choice of EC2.10.",
        ),
        Control(
            "FSBP EC2.58",
            "VPCs should be configured with an interface endpoint for Systems Manager Incident "
            "Manager Contacts",
            MEDIUM,
            VPC,
            "Not applicable: nothing in the stack calls Incident Manager; an endpoint for it "
            "would carry no traffic. Security Hub reports this control for the VPC.",
        ),
        Control(
            "FSBP EC2.60",
            "VPCs should be configured with an interface endpoint for Systems Manager Incident "
            "Manager",
            MEDIUM,
            VPC,
            "Not applicable: nothing in the stack calls Incident Manager; an endpoint for it "
            "would carry no traffic. Security Hub reports this control for the VPC.",
        ),
        Control(
            "FSBP EC2.170",
            "EC2 launch templates should use Instance Metadata Service Version 2 (IMDSv2)",
            LOW,
            "AWS::EC2::LaunchTemplate",
        ),
        Control(
            "FSBP EC2.172",
            "EC2 VPC Block Public Access settings should block internet gateway traffic",
            MEDIUM,
            "AWS::EC2::VPCBlockPublicAccessOptions",
            "Account-level: VPC Block Public Access is a per-Region account setting outside any "
            "stack (ingress-only mode keeps the stack's NAT egress working).",
        ),
        Control(
            "FSBP EC2.180",
            "EC2 network interfaces should have source/destination checking enabled",
            MEDIUM,
            "AWS::EC2::NetworkInterface",
            "Met by construction: the stack's interfaces are made by EC2, the VPC CNI, EFS, FSx "
            "and the endpoints with source/destination checking on (EC2's default); nothing in "
            "the stack sets sourceDestCheck.",
        ),
        Control(
            "FSBP EC2.181",
            "EC2 launch templates should enable encryption for attached EBS volumes",
            MEDIUM,
            "AWS::EC2::LaunchTemplate",
        ),
        # --- IAM --------------------------------------------------------------------------------
        Control(
            "FSBP IAM.1",
            'IAM policies should not allow full "*" administrative privileges',
            HIGH,
            "AWS::IAM::Policy",
        ),
        Control(
            "FSBP IAM.2",
            "IAM users should not have IAM policies attached",
            LOW,
            "AWS::IAM::User",
            _NO_USERS,
        ),
        Control(
            "FSBP IAM.3",
            "IAM users' access keys should be rotated every 90 days or less",
            MEDIUM,
            "AWS::IAM::User",
            _NO_USERS,
        ),
        Control(
            "FSBP IAM.4",
            "IAM root user access key should not exist",
            CRITICAL,
            ACCOUNT,
            "Account-level: the root user's keys are the account's, outside any stack.",
        ),
        Control(
            "FSBP IAM.5",
            "MFA should be enabled for all IAM users that have a console password",
            MEDIUM,
            "AWS::IAM::User",
            _NO_USERS,
        ),
        Control(
            "FSBP IAM.6",
            "Hardware MFA should be enabled for the root user",
            CRITICAL,
            ACCOUNT,
            "Account-level: the root user's MFA is the account's, outside any stack.",
        ),
        Control(
            "FSBP IAM.7",
            "Password policies for IAM users should have strong configurations",
            MEDIUM,
            ACCOUNT,
            "Account-level: the password policy is the account's, outside any stack (and the "
            "stack creates no user with a password).",
        ),
        Control(
            "FSBP IAM.8",
            "Unused IAM user credentials should be removed",
            MEDIUM,
            "AWS::IAM::User",
            _NO_USERS,
        ),
        Control(
            "FSBP IAM.21",
            "IAM customer managed policies that you create should not allow wildcard actions for "
            "services",
            LOW,
            "AWS::IAM::Policy",
        ),
        # --- EFS, FSx ---------------------------------------------------------------------------
        Control(
            "FSBP EFS.1",
            "Elastic File System should be configured to encrypt file data at-rest using AWS KMS",
            MEDIUM,
            "AWS::EFS::FileSystem",
        ),
        Control(
            "FSBP EFS.2",
            "Amazon EFS volumes should be in backup plans",
            MEDIUM,
            "AWS::EFS::FileSystem",
            _BACKUPS,
        ),
        Control(
            "FSBP EFS.3",
            "EFS access points should enforce a root directory",
            MEDIUM,
            "AWS::EFS::AccessPoint",
        ),
        Control(
            "FSBP EFS.4",
            "EFS access points should enforce a user identity",
            MEDIUM,
            "AWS::EFS::AccessPoint",
        ),
        Control(
            "FSBP EFS.6",
            "EFS mount targets should not be associated with subnets that assign public IP "
            "addresses on launch",
            MEDIUM,
            "AWS::EFS::FileSystem",
        ),
        Control(
            "FSBP EFS.7",
            "EFS file systems should have automatic backups enabled",
            MEDIUM,
            "AWS::EFS::FileSystem",
            _BACKUPS,
        ),
        Control(
            "FSBP EFS.8",
            "EFS file systems should be encrypted at rest",
            MEDIUM,
            "AWS::EFS::FileSystem",
        ),
        Control(
            "FSBP FSx.2",
            "FSx for Lustre file systems should be configured to copy tags to backups",
            LOW,
            "AWS::FSx::FileSystem",
        ),
        # --- CodeBuild --------------------------------------------------------------------------
        Control(
            "FSBP CodeBuild.1",
            "CodeBuild Bitbucket source repository URLs should not contain sensitive credentials",
            CRITICAL,
            "AWS::CodeBuild::Project",
            "Not applicable: the image build's source is the stack's S3 bucket (source type S3), "
            "never a Bitbucket URL.",
        ),
        Control(
            "FSBP CodeBuild.2",
            "CodeBuild project environment variables should not contain clear text credentials",
            CRITICAL,
            "AWS::CodeBuild::Project",
        ),
        Control(
            "FSBP CodeBuild.3",
            "CodeBuild S3 logs should be encrypted",
            LOW,
            "AWS::CodeBuild::Project",
        ),
        Control(
            "FSBP CodeBuild.4",
            "CodeBuild project environments should have a logging AWS Configuration",
            MEDIUM,
            "AWS::CodeBuild::Project",
        ),
        # --- Secrets Manager --------------------------------------------------------------------
        Control(
            "FSBP SecretsManager.1",
            "Secrets Manager secrets should have automatic rotation enabled",
            MEDIUM,
            SECRET,
            _ROTATION,
        ),
        Control(
            "FSBP SecretsManager.2",
            "Secrets Manager secrets configured with automatic rotation should rotate successfully",
            MEDIUM,
            SECRET,
            "Not applicable: the control evaluates secrets with rotation turned on, and the "
            "stack's one secret has none (SecretsManager.1).",
        ),
        Control(
            "FSBP SecretsManager.3",
            "Remove unused Secrets Manager secrets",
            MEDIUM,
            SECRET,
            "Runtime, not a plan input: the secret exists only while an engine is configured with "
            "trainstack:dockerHubUser and dockerHubToken, and ECR reads it on every cache miss; "
            "the stack deletes it with the cache rule.",
        ),
        Control(
            "FSBP SecretsManager.4",
            "Secrets Manager secrets should be rotated within a specified number of days",
            MEDIUM,
            SECRET,
            _ROTATION,
        ),
    ),
)
