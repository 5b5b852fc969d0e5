"""The AWS stack rules on small hand-made stacks: each finds the resource it is about, passes the
fixed stack, and waits when a preview does not know the IDs it matches by yet."""

from __future__ import annotations

import json

import pytest
from cases_aws import BUCKET_ARN, QUEUE_ARN, TOPIC_ARN, deny_tls, doc

from policies import STACK_BY_NAME


def res(type_: str, handle: str, **props) -> tuple:
    """A Planned resource: its handle is its logical name, its names that and its ID."""
    return handle, type_, props, (handle, props.get("id", handle))


VPC = res("aws:ec2/vpc:Vpc", "vpc", id="vpc-1", cidrBlock="10.0.0.0/16")
DEFAULT_SG = res(
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "dsg", vpcId="vpc-1", ingress=[], egress=[]
)
FLOW_LOG = res("aws:ec2/flowLog:FlowLog", "fl", vpcId="vpc-1", trafficType="REJECT")


def found(rule: str, stack: list) -> list[str]:
    return [handle for handle, _m in STACK_BY_NAME[rule](stack)]


def test_tls_policies_are_matched_to_their_bucket_queue_and_topic():
    stores = [
        res("aws:s3/bucket:Bucket", "b", id="b"),
        res("aws:sqs/queue:Queue", "q", id="https://sqs/1/q", name="q"),
        res("aws:sns/topic:Topic", "t", name="t"),
    ]
    policies = [
        res(
            "aws:s3/bucketPolicy:BucketPolicy",
            "bp",
            bucket="b",
            policy=doc(deny_tls("s3:*", [BUCKET_ARN, BUCKET_ARN + "/*"])),
        ),
        res(
            "aws:sqs/queuePolicy:QueuePolicy",
            "qp",
            queueUrl="https://sqs/1/q",
            policy=doc(deny_tls("sqs:*", QUEUE_ARN)),
        ),
        res(
            "aws:sns/topicPolicy:TopicPolicy",
            "tp",
            arn=TOPIC_ARN,
            policy=doc(deny_tls("sns:Publish", TOPIC_ARN)),
        ),
    ]
    assert found("tls-only-policy-attached", stores + policies) == []
    assert found("tls-only-policy-attached", stores + policies[1:]) == ["b"]
    assert found("tls-only-policy-attached", stores + policies[:2]) == ["t"]
    no_deny = res("aws:sqs/queuePolicy:QueuePolicy", "qp", queueUrl="https://sqs/1/q", policy="{}")
    assert found("tls-only-policy-attached", [*stores, policies[0], no_deny, policies[2]]) == ["q"]
    # The policy's queue URL unknown (a preview of a new stack): queues are not judged yet.
    unknown = res("aws:sqs/queuePolicy:QueuePolicy", "qp", policy="{}")
    assert found("tls-only-policy-attached", [*stores, policies[0], unknown, policies[2]]) == []


def node_role(principal: dict) -> tuple:
    trust = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    return res("aws:iam/role:Role", "node", assumeRolePolicy=doc(trust))


def entry(arn: str | None) -> tuple:
    return res("aws:eks/accessEntry:AccessEntry", "entry", type="EC2_LINUX", principalArn=arn)


def test_node_access_entries_name_the_stacks_ec2_only_roles():
    ec2 = node_role({"Service": "ec2.amazonaws.com"})
    mine = "arn:aws:iam::1:role/node"
    assert found("eks-node-access-entries", [ec2, entry(mine)]) == []
    assert found("eks-node-access-entries", [ec2, entry("arn:aws:iam::2:role/admin")]) == ["entry"]
    either = node_role({"Service": ["ec2.amazonaws.com", "pods.eks.amazonaws.com"]})
    assert found("eks-node-access-entries", [either, entry(mine)]) == ["entry"]
    assert found("eks-node-access-entries", [ec2, entry(None)]) == []


def test_every_vpc_has_an_empty_default_group_and_a_flow_log_of_rejects():
    rule = "vpc-default-sg-and-flow-logs"
    assert found(rule, [VPC, DEFAULT_SG, FLOW_LOG]) == []
    assert found(rule, [VPC, FLOW_LOG]) == ["vpc"]
    assert found(rule, [VPC, DEFAULT_SG]) == ["vpc"]
    accepts = res("aws:ec2/flowLog:FlowLog", "fl", vpcId="vpc-1", trafficType="ACCEPT")
    assert found(rule, [VPC, DEFAULT_SG, accepts]) == ["vpc"]
    ssh = {"protocol": "tcp", "fromPort": 22, "toPort": 22, "self": True}
    open_default = res(
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "dsg", vpcId="vpc-1", ingress=[ssh]
    )
    assert found(rule, [VPC, open_default, FLOW_LOG]) == ["vpc"]
    # CrossGuard's stack validation: outputs only, the VPC's ID at the end of its ARN.
    outputs = ("vpc", "aws:ec2/vpc:Vpc", {"arn": "arn:aws:ec2:us-west-2:1:vpc/vpc-1"}, ("vpc",))
    assert found(rule, [outputs, DEFAULT_SG, FLOW_LOG]) == []


@pytest.mark.parametrize(
    "cidr,wide", [("10.0.0.0/16", False), ("10.0.4.0/22", False), ("10.0.0.0/8", True)]
)
def test_security_groups_admit_nothing_wider_than_their_vpc(cidr, wide):
    sg = res(
        "aws:ec2/securityGroup:SecurityGroup",
        "sg",
        id="sg-1",
        vpcId="vpc-1",
        ingress=[{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": [cidr]}],
    )
    assert found("sg-ingress-within-vpc", [VPC, sg]) == (["sg"] if wide else [])
    quiet = res("aws:ec2/securityGroup:SecurityGroup", "sg", id="sg-1", vpcId="vpc-1")
    rule = res(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "r",
        securityGroupId="sg-1",
        cidrIpv4=cidr,
    )
    assert found("sg-ingress-within-vpc", [VPC, quiet, rule]) == (["r"] if wide else [])


def test_event_targets_deliver_to_the_stacks_queues_only():
    queue = res("aws:sqs/queue:Queue", "q", name="q")
    target = res("aws:cloudwatch/eventTarget:EventTarget", "t", arn=QUEUE_ARN)
    assert found("eventbridge-targets-in-stack", [queue, target]) == []
    away = res("aws:cloudwatch/eventTarget:EventTarget", "t", arn=QUEUE_ARN.replace(":q", ":x"))
    assert found("eventbridge-targets-in-stack", [queue, away]) == ["t"]


def test_the_nightly_schedule_may_start_the_stacks_own_build():
    # image.nightlySchedule targets the image build's CodeBuild project (components/image.py).
    project = res("aws:codebuild/project:Project", "p", name="c-trainer")
    arn = "arn:aws:codebuild:us-west-2:111122223333:project/c-trainer"
    nightly = res("aws:cloudwatch/eventTarget:EventTarget", "n", arn=arn)
    assert found("eventbridge-targets-in-stack", [project, nightly]) == []
    other = res("aws:cloudwatch/eventTarget:EventTarget", "n", arn=arn.replace("c-", "x-"))
    assert found("eventbridge-targets-in-stack", [project, other]) == ["n"]


def test_every_repository_has_a_lifecycle_policy():
    repo = res("aws:ecr/repository:Repository", "r", name="c/trainer")
    policy = res(
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
        "p",
        repository="c/trainer",
        policy=json.dumps({"rules": []}),
    )
    assert found("ecr-lifecycle-policy", [repo, policy]) == []
    assert found("ecr-lifecycle-policy", [repo]) == ["r"]
