"""AWS's own input rules, checked offline (aws_rules): each rule fails and passes,
the example stacks plan clean, and the config layer refuses what a user can get wrong."""

import json
from pathlib import Path

import botocore.session
import pytest
import support

import aws_rules
from aws_rules import api_fields, documented, iam_policy
from components import config as platform_config
from components.config import ConfigError
from trainstack import cli
from trainstack.offline import plan
from trainstack.offline.stack_config import load_stack_config

ROOT = Path(__file__).resolve().parents[2]


def violations(rtype, inputs, logical="res"):
    return aws_rules.check_resource(rtype, logical, inputs)


# ------------------------------------------------------------------ botocore's API field rules


def test_every_mapped_field_exists_in_the_botocore_model():
    for (rtype, path), target in api_fields.FIELDS.items():
        rule = api_fields.field_rule(*target)  # raises KeyError for a misspelled member
        assert rule.kind in ("string", "integer", "long", "double"), (rtype, path)


def test_rules_are_read_from_botocore_not_copied():
    model = botocore.session.get_session().get_service_model("iam")
    shape = model.operation_model("CreateRole").input_shape.members["RoleName"]
    rule = api_fields.rule_for("aws:iam/role:Role", "name")
    assert (rule.min, rule.max, rule.pattern) == (
        shape.metadata["min"],
        shape.metadata["max"],
        shape.metadata["pattern"],
    )


@pytest.mark.parametrize(
    "rtype,path,good,bad",
    [
        (
            "aws:ecr/repository:Repository",
            "name",
            "trainstack-dev/trainer",
            "Trainstack-Dev/trainer",
        ),
        ("aws:ecr/repository:Repository", "imageTagMutability", "IMMUTABLE", "LOCKED"),
        ("eks:index:Cluster", "name", "trainstack-dev", "trainstack.dev"),
        ("aws:eks/accessEntry:AccessEntry", "clusterName", "c1", "c" * 101),
        ("eks:index:ManagedNodeGroup", "amiType", "AL2023_x86_64_NVIDIA", "AL2023_NVIDIA"),
        ("aws:iam/role:Role", "name", "r" * 64, "r" * 65),
        ("aws:iam/rolePolicy:RolePolicy", "name", "ok", "has space"),
        ("aws:codebuild/project:Project", "name", "trainstack-dev-trainer", "a.b"),
        ("aws:codebuild/project:Project", "buildTimeout", 60, 3000),
        (
            "aws:codebuild/project:Project",
            "environment.computeType",
            "BUILD_GENERAL1_LARGE",
            "BUILD_GENERAL1_HUGE",
        ),
        ("aws:cloudwatch/eventRule:EventRule", "name", "nightly", "nightly rule"),
        ("aws:cloudwatch/eventTarget:EventTarget", "targetId", "codebuild", "t" * 65),
        ("aws:cloudwatch/logGroup:LogGroup", "name", "/aws/eks/x/cluster", "/aws/eks/x y"),
        ("aws:kms/alias:Alias", "name", "alias/x-trainer", "alias/x trainer"),
        ("aws:efs/fileSystem:FileSystem", "throughputMode", "elastic", "fast"),
        ("aws:fsx/lustreFileSystem:LustreFileSystem", "deploymentType", "PERSISTENT_2", "P2"),
        ("aws:fsx/lustreFileSystem:LustreFileSystem", "perUnitStorageThroughput", 125, 2000),
        ("aws:fsx/lustreFileSystem:LustreFileSystem", "subnetIds", "subnet-0123abcd", "sub-1"),
        (
            "aws:fsx/lustreFileSystem:LustreFileSystem",
            "metadataConfiguration.mode",
            "AUTOMATIC",
            "AUTO",
        ),
        (
            "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation",
            "fileSystemPath",
            "/data/",
            "/da\nta/",
        ),
    ],
)
def test_api_field_rule(rtype, path, good, bad):
    def at(value):
        inputs = {}
        node = inputs
        *parents, last = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
        return inputs

    assert violations(rtype, at(good)) == []
    found = violations(rtype, at(bad))
    assert len(found) == 1 and found[0].input == path and found[0].value == bad
    assert found[0].rule.startswith(api_fields.FIELDS[(rtype, path)][0])


def test_auto_name_is_logical_name_plus_pulumi_suffix():
    # 64 = 56 + '-' + 7 hex digits: the longest logical name an auto-named IAM role can have.
    assert violations("aws:iam/role:Role", {}, logical="r" * 56) == []
    found = violations("aws:iam/role:Role", {}, logical="r" * 57)
    assert found and found[0].input == "(auto-name)"


def test_name_prefix_leaves_room_for_the_provider_suffix():
    # terraform-provider-aws appends 26 characters: an IAM role prefix may have 64 - 26 = 38.
    assert violations("aws:iam/role:Role", {"namePrefix": "p" * 38}) == []
    found = violations("aws:iam/role:Role", {"namePrefix": "p" * 39})
    assert found and found[0].input == "namePrefix" and "above the maximum" in found[0].problem


# ------------------------------------------------------------------- documented rules


@pytest.mark.parametrize(
    "good,bad",
    [
        ("trainstack-dev-trainer-src-1", "Trainstack-src"),
        ("a.b-c", "a..b"),
        ("abc", "192.168.1.1"),
        ("abc", "xn--abc"),
        ("a" * 63, "a" * 64),
    ],
)
def test_s3_bucket_name(good, bad):
    assert violations("aws:s3/bucket:Bucket", {"bucket": good}) == []
    assert violations("aws:s3/bucket:Bucket", {"bucket": bad})


def test_s3_bucket_prefix_at_most_37():
    assert violations("aws:s3/bucket:Bucket", {"bucketPrefix": "b" * 37}) == []
    found = violations("aws:s3/bucket:Bucket", {"bucketPrefix": "b" * 38})
    assert found and found[0].input == "bucketPrefix" and "64 characters" in found[0].problem


def test_sqs_queue_name():
    assert violations("aws:sqs/queue:Queue", {"name": "trainstack-dev-karpenter"}) == []
    assert violations("aws:sqs/queue:Queue", {"name": "q" * 81})
    assert violations("aws:sqs/queue:Queue", {"name": "a.b"})


def test_eks_node_group_name_and_prefix():
    # A prefix leaves room for the provider's 26 characters within EKS's 63.
    assert violations("eks:index:ManagedNodeGroup", {"nodeGroupNamePrefix": "p" * 37}) == []
    found = violations("eks:index:ManagedNodeGroup", {"nodeGroupNamePrefix": "p" * 38})
    assert found and found[0].input == "nodeGroupNamePrefix" and "64 characters" in found[0].problem
    assert violations("aws:eks/nodeGroup:NodeGroup", {"nodeGroupName": "gpu_g5-1"}) == []
    assert violations("aws:eks/nodeGroup:NodeGroup", {"nodeGroupName": "-gpu"})
    assert violations("aws:eks/nodeGroup:NodeGroup", {"nodeGroupName": "gpu.g5"})


def test_kms_alias_prefix():
    assert violations("aws:kms/alias:Alias", {"name": "alias/ok"}) == []
    assert violations("aws:kms/alias:Alias", {"name": "ok"})
    assert violations("aws:kms/alias:Alias", {"name": "alias/aws/ok"})


@pytest.mark.parametrize(
    "expr",
    [
        "cron(0 3 * * ? *)",
        "cron(0/15 2-4 ? * MON-FRI *)",
        "cron(0 3 L * ? 2030)",
        "cron(0 3 ? * 6#3 *)",
        "rate(1 day)",
        "rate(5 minutes)",
        "rate(2 hours)",
    ],
)
def test_schedule_expression_passes(expr):
    assert documented.SCHEDULE_EXPRESSION.problem(expr) is None


@pytest.mark.parametrize(
    "expr,why",
    [
        ("cron(0 3 * * *)", "5 fields"),
        ("cron(0 3 * * * *)", "'?'"),
        ("cron(0 3 1 * MON *)", "'?'"),
        ("cron(60 3 * * ? *)", "minutes"),
        ("cron(0 3 * 13 ? *)", "month"),
        ("rate(1 days)", "rate(1 day)"),
        ("rate(5 minute)", "rate(5 minutes)"),
        ("rate(0 days)", "positive"),
        ("rate(1 week)", "unit"),
        ("at(2030-01-01T00:00:00)", "expected cron"),
    ],
)
def test_schedule_expression_fails(expr, why):
    problem = documented.SCHEDULE_EXPRESSION.problem(expr)
    assert problem is not None and why in problem


# ------------------------------------------------------------------- IAM policy documents

GOOD_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "ec2:Describe*"],
            "Resource": ["arn:aws:s3:::bucket/*", "arn:aws:ec2:us-west-2::image/*"],
        }
    ],
}


@pytest.mark.parametrize(
    "edit,why",
    [
        (lambda s: s.update(Action="s3:GetObjekt"), "no action matching 'GetObjekt'"),
        (lambda s: s.update(Action="ecr:Nothing*"), "no action matching"),
        (lambda s: s.update(Action="s4:GetObject"), "no IAM service prefix 's4'"),
        (lambda s: s.update(Resource="arn:aws:s3::bucket"), "expected arn:"),
        (lambda s: s.update(Resource="arn:aws:ec2:us-west-2:123:instance/*"), "12-digit"),
        (
            lambda s: s.update(Resource="arn:aws:ec2:us-west-2:123456789012:gizmo/*"),
            "no resource type",
        ),
    ],
)
def test_policy_document(edit, why):
    assert iam_policy.document_problems(json.dumps(GOOD_POLICY)) == []
    doc = json.loads(json.dumps(GOOD_POLICY))
    edit(doc["Statement"][0])
    found = violations("aws:iam/rolePolicy:RolePolicy", {"role": "r", "policy": json.dumps(doc)})
    assert len(found) == 1 and found[0].input == "policy" and why in found[0].problem


# ------------------------------------------------------------------- the plan and the config


@pytest.mark.parametrize("stack", ["dev", "efa"])
def test_example_stacks_follow_aws_rules(stack):
    result = support.plan(stack)  # the session's plan of the stack
    assert result.aws_violations == []
    assert any(r.type == "aws:iam/rolePolicy:RolePolicy" for r in result.plan.resources)


def test_longest_cluster_name_plans_clean_and_one_more_is_a_config_error():
    longest = platform_config.max_cluster_name_length()
    assert 10 < longest < 100  # the S3 source-bucket prefix binds: 63 - 26 - len('-trainer-src-')
    result = plan.run(ROOT, "dev", overrides={"trainstack:cluster.name": "a" * longest})
    assert result.aws_violations == []
    with pytest.raises(
        ConfigError,
        match=rf"trainstack:cluster\.name = 'a{{{longest + 1}}}': "
        rf".*at most {longest} characters",
    ):
        plan.run(ROOT, "dev", overrides={"trainstack:cluster.name": "a" * (longest + 1)})


@pytest.mark.parametrize(
    "name,why",
    [
        ("Trainstack-Dev", "ecr CreateRepository"),
        ("trainstack_dev", "S3 bucket name"),
        ("trainstack-dev-", "ecr CreateRepository"),
    ],
)
def test_cluster_name_a_derived_name_rejects_is_a_config_error(name, why):
    with pytest.raises(ConfigError, match=r"trainstack:cluster\.name") as err:
        plan.run(ROOT, "dev", overrides={"trainstack:cluster.name": name})
    assert why in str(err.value) and "lowercase letters, digits and '-'" in str(err.value)


def test_five_field_cron_is_a_config_error():
    values = plan.with_overrides(
        load_stack_config(ROOT, "dev").config,
        {
            "trainstack:image.github": {"owner": "acme", "repo": "ml", "branch": "main"},
            "trainstack:image.nightlySchedule": "cron(0 3 * * *)",
        },
    )
    with pytest.raises(
        ConfigError,
        match=r"trainstack:image\.nightlySchedule = 'cron\(0 3 \* \* "
        r"\*\)': cron has 5 fields",
    ):
        platform_config.parse_pulumi_config(values)
    values["trainstack:image"] = values["trainstack:image"].replace("0 3 * * *", "0 3 * * ? *")
    platform_config.parse_pulumi_config(values)


def test_plan_exits_1_on_a_violation_config_cannot_catch(monkeypatch, tmp_path, capsys):
    # A component bug, not a config value: the interruption queue gets a name SQS refuses.
    from components import karpenter

    monkeypatch.setattr(karpenter, "interruption_queue_name", lambda c: f"{c}.karpenter")
    code = cli.main(["--project-dir", str(ROOT), "plan", "--stack", "dev", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "AWS inputs: 1 violation" in out
    assert (
        "aws:sqs/queue:Queue trainstack-karpenter-interruptions: name = "
        "'trainstack-dev.karpenter'" in out
    )


def test_node_group_name_too_long_for_its_cluster_is_a_config_error():
    # dev's cluster is trainstack-dev: '<cluster>-<group>-' + 26 characters must fit in 63.
    group = json.loads(load_stack_config(ROOT, "dev").config["trainstack:nodeGroups"])["gpu-g4dn"]
    longest = 63 - 26 - len("trainstack-dev--")
    fits = plan.run(ROOT, "dev", overrides={f"trainstack:nodeGroups.{'g' * longest}": group})
    assert fits.aws_violations == []
    assert any(
        r.inputs.get("nodeGroupNamePrefix", "").endswith("g" * longest + "-")
        for r in fits.plan.of_type("eks:index:ManagedNodeGroup")
    )
    with pytest.raises(
        ConfigError,
        match=rf"trainstack:nodeGroups\.g{{{longest + 1}}}: the EKS "
        rf"node group name .* at most {longest} characters",
    ):
        plan.run(ROOT, "dev", overrides={f"trainstack:nodeGroups.{'g' * (longest + 1)}": group})
