"""The policy rules: each one on a violating and a compliant input, the example stacks clean,
and deliberately broken stacks caught by the right rule."""

import copy
import runpy
from pathlib import Path

import pulumi_policy
import pytest
from test_platform import plan
from test_policies_security import SECURITY_CASES

import policies
from policies import BY_NAME, MANDATORY, check_plan

ROOT = Path(__file__).resolve().parents[2]
from trainstack.offline.plan_report import summary  # noqa: E402

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


@pytest.mark.parametrize(
    "name,type_,bad,good", CASES, ids=[f"{c[0]}:{c[1].split(':')[-1]}" for c in CASES]
)
def test_rule_flags_the_violation_and_passes_the_fix(name, type_, bad, good):
    rule = BY_NAME[name]
    found = rule(type_, bad)
    assert found and all(isinstance(m, str) and ": " in m for m in found), found
    assert rule(type_, good) == []


def test_every_rule_has_a_case_and_metadata():
    assert {c[0] for c in CASES + SECURITY_CASES} == set(BY_NAME)
    assert len(BY_NAME) >= 20
    for rule in BY_NAME.values():
        assert rule.description and rule.types
        assert rule.enforcement in (MANDATORY, policies.ADVISORY)
        for case in CASES + SECURITY_CASES:
            if case[0] == rule.name:
                assert rule.applies_to(case[1])


def test_rules_ignore_types_they_do_not_cover():
    assert BY_NAME["ecr-immutable-tags"](SG, {"imageTagMutability": "MUTABLE"}) == []


def test_rule_config_overrides_the_default_allow_lists():
    tags = BY_NAME["required-tags"]
    assert tags("aws:kms/key:Key", {"tags": TAGS}, {"requiredTags": ["team"]})
    cb = BY_NAME["codebuild-privileged-only-image-build"]
    props = {"name": "dev-docs", "environment": {"privilegedMode": True}}
    assert cb(CODEBUILD, props, {"privilegedSuffixes": ["-docs"]}) == []
    # Pinned to the stack's repository, another ECR repository is refused.
    ecr = BY_NAME["job-images-from-ecr"]
    own = IMAGE.split("@")[0]
    other = "123456789012.dkr.ecr.us-west-2.amazonaws.com/someone-else@sha256:" + "1" * 64
    assert ecr(POD, pod(), {"allowedRepositories": [own]}) == []
    assert ecr(POD, pod({"image": other}), {"allowedRepositories": [own]})
    assert ecr(POD, pod({"image": other}), {}) == []  # no pin: any ECR repository


def test_pack_config_can_lower_or_disable_a_rule():
    broken = plan("dev", **{"trainstack:cluster__endpoint": PUBLIC})
    rule = "eks-endpoint-not-public"
    advisory = check_plan(broken.plan.resources, {rule: "advisory"})
    assert {v.level for v in advisory if v.rule == rule} == {"advisory"}
    disabled = check_plan(broken.plan.resources, {rule: {"enforcementLevel": "disabled"}})
    assert not [v for v in disabled if v.rule == rule]


# The check that holds once the pod hardening (seccomp RuntimeDefault in components/pod_spec.py)
# is merged with the restricted-profile rules: until then the job pods fail
# pod-seccomp-restricted (see test_policies_security).
@pytest.mark.parametrize("stack", ["dev", "efa"])
def test_example_stacks_have_no_mandatory_violations(stack):
    result = plan(stack)
    assert result.mandatory_violations == []
    assert [v for v in result.policy_violations if v.level == MANDATORY] == []


PUBLIC = {"public": True, "publicAccessCidrs": ["0.0.0.0/0"], "allowPublicFromAnywhere": True}


def test_public_endpoint_stack_is_caught_and_summarised():
    result = plan("dev", **{"trainstack:cluster__endpoint": PUBLIC})
    hits = [v for v in result.mandatory_violations if v.rule == "eks-endpoint-not-public"]
    assert [v.type for v in hits] == [EKS]
    assert "eks-endpoint-not-public" in summary(result)


def _captured(type_, stack="dev"):
    """Plain inputs of the first captured resource of `type_`, as a copy safe to edit."""
    return copy.deepcopy(plan(stack).plan.of_type(type_)[0].plain_inputs)


def _broken_rules(type_, props, before=None):
    """Rules `props` breaks; with `before` (the unedited props), only those the edit added."""
    broken = {r.name for r in BY_NAME.values() if r(type_, props)}
    return broken - _broken_rules(type_, before) if before is not None else broken


def test_captured_repository_with_mutable_tags_is_caught():
    props = _captured(ECR)
    props["imageTagMutability"] = "MUTABLE"
    assert _broken_rules(ECR, props) == {"ecr-immutable-tags"}


def test_captured_launch_template_with_imdsv1_is_caught():
    props = _captured(LT)
    props["metadataOptions"]["httpTokens"] = "optional"
    assert _broken_rules(LT, props) == {"imdsv2-required"}


def _job_container(props):
    return props["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]


def test_captured_job_with_privileged_container_is_caught():
    props = _captured(PTJ)
    before = copy.deepcopy(props)
    _job_container(props)["securityContext"]["privileged"] = True
    assert _broken_rules(PTJ, props, before) == {"no-privileged-containers"}


def test_captured_job_with_plain_text_token_is_caught():
    props = _captured(PTJ)
    before = copy.deepcopy(props)
    _job_container(props)["env"].append({"name": "HF_TOKEN", "value": "hf_abc"})
    assert _broken_rules(PTJ, props, before) == {"no-plaintext-secrets-in-env"}


def test_captured_nodepool_without_gpu_limit_is_caught():
    props = _captured(NODEPOOL)
    del props["spec"]["limits"]["nvidia.com/gpu"]
    assert _broken_rules(NODEPOOL, props) == {"gpu-nodepool-limits"}


def test_bucket_without_protections_is_caught_at_stack_level():
    resources = [
        r for r in plan("dev").plan.resources if not r.type.startswith("aws:s3/bucketVersioning")
    ]
    found = [v for v in check_plan(resources) if v.rule == "s3-bucket-protected"]
    # One per bucket: the image sources and the artifacts (components/artifacts.py).
    assert sorted(v.resource for v in found) == [
        "trainstack-artifacts-bucket",
        "trainstack-image-sources",
    ]
    assert all("versioning" in v.message and v.type == "aws:s3/bucket:Bucket" for v in found)


def _pack_policies():
    # Not run as __main__: building the PolicyPack itself would start the analyzer and block.
    pack = runpy.run_path(str(ROOT / "policies" / "__main__.py"), run_name="policies_pack")
    return {p.name: p for p in pack["policies"]()}


def _opts():
    return pulumi_policy.PolicyResourceOptions(
        False, [], None, [], pulumi_policy.PolicyCustomTimeouts(0, 0, 0), []
    )


def test_policy_pack_has_one_policy_per_rule_with_its_level_and_schema():
    built = _pack_policies()
    assert set(BY_NAME) < set(built)
    for name, rule in BY_NAME.items():
        assert built[name].enforcement_level.value == rule.enforcement
        assert (built[name].config_schema is not None) == bool(rule.config_schema)


def test_pack_policy_reports_each_violation_against_the_resource():
    policy = _pack_policies()["ecr-immutable-tags"]
    reported = []
    args = pulumi_policy.ResourceValidationArgs(
        ECR, {"imageTagMutability": "MUTABLE"}, "urn:repo", "repo", _opts(), None, {}
    )
    policy.validate(args, lambda msg, urn=None: reported.append((msg, urn)))
    assert len(reported) == 1 and reported[0][1] == "urn:repo"


def test_pack_policy_uses_the_policy_config():
    policy = _pack_policies()["required-tags"]
    reported = []
    args = pulumi_policy.ResourceValidationArgs(
        "aws:kms/key:Key",
        {"tags": TAGS},
        "urn:key",
        "key",
        _opts(),
        None,
        {"requiredTags": ["managed-by", "team"]},
    )
    policy.validate(args, lambda msg, urn=None: reported.append(msg))
    assert len(reported) == 1 and "team" in reported[0]


def test_pack_stack_policy_flags_an_unprotected_bucket():
    policy = _pack_policies()["s3-bucket-protected"]
    bucket = pulumi_policy.PolicyResource(
        "aws:s3/bucket:Bucket", {"bucket": "b-123"}, "urn:b", "b", _opts(), None, None, [], {}
    )
    reported = []
    policy.validate(
        pulumi_policy.StackValidationArgs([bucket]),
        lambda msg, urn=None: reported.append((msg, urn)),
    )
    assert len(reported) == 1 and reported[0][1] == "urn:b"


def test_pack_stack_policy_reports_against_the_bucket_not_its_protections():
    """A protection's first name is its `bucket` input, the bucket's own name: the violation
    must still go to the bucket's URN, not to the protection listed after it."""
    policy = _pack_policies()["s3-bucket-protected"]

    def res(type_, props, urn, name):
        return pulumi_policy.PolicyResource(type_, props, urn, name, _opts(), None, None, [], {})

    resources = [
        res("aws:s3/bucket:Bucket", {"bucket": "data-abc"}, "urn:bucket", "data"),
        res(
            "aws:s3/bucketVersioningV2:BucketVersioningV2",
            {"bucket": "data-abc"},
            "urn:versioning",
            "data-versioning",
        ),
    ]
    reported = []
    policy.validate(
        pulumi_policy.StackValidationArgs(resources),
        lambda msg, urn=None: reported.append((msg, urn)),
    )
    assert len(reported) == 1 and reported[0][1] == "urn:bucket"
    assert "bucket data-abc has no encryption, a public access block" in reported[0][0]
