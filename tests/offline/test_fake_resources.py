"""What the engine answers for custom resources (trainstack/offline/fakes/resources.py): inputs
echoed, ids and ARNs shaped like the real ones, reads, and a finished image build."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
from mock_engine import STACK_URN, run

from trainstack.offline.fakes.values import ACCOUNT_ID


def test_custom_resources_echo_inputs_with_fake_id_arn_and_name():
    def program():
        role = aws.iam.Role("node-role", assume_role_policy="{}", path="/trainstack/")
        key = aws.kms.Key("secrets", description="envelope key", deletion_window_in_days=7)
        queue = aws.sqs.Queue("interruption", message_retention_seconds=300)
        pulumi.export("roleArn", role.arn)
        pulumi.export("roleName", role.name)
        pulumi.export("keyArn", key.arn)
        pulumi.export("keyId", key.key_id)
        pulumi.export("queueUrl", queue.url)
        pulumi.export("queueArn", queue.arn)

    plan = run(program)

    role = plan.one("aws:iam/role:Role", "node-role")
    assert role.custom and not role.remote
    assert role.parent == STACK_URN == plan.stack_urn
    assert role.provider is None  # default provider
    assert role.inputs == {"assumeRolePolicy": "{}", "path": "/trainstack/"}
    assert plan.outputs["roleName"] == "node-role"
    assert plan.outputs["roleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/trainstack/node-role"
    # What the mock answered is kept apart from the inputs.
    assert role.id == "node-role"
    assert role.state["arn"] == plan.outputs["roleArn"]

    key = plan.one("aws:kms/key:Key")
    assert key.inputs["deletionWindowInDays"] == 7  # numbers come back as floats: compare with ==
    assert (
        plan.outputs["keyArn"] == f"arn:aws:kms:us-west-2:{ACCOUNT_ID}:key/{plan.outputs['keyId']}"
    )

    assert plan.outputs["queueUrl"] == (
        f"https://sqs.us-west-2.amazonaws.com/{ACCOUNT_ID}/interruption"
    )
    assert plan.outputs["queueArn"] == f"arn:aws:sqs:us-west-2:{ACCOUNT_ID}:interruption"


def test_vpc_and_subnet_ids_look_real():
    def program():
        vpc = aws.ec2.Vpc("vpc", cidr_block="10.0.0.0/16")
        subnet = aws.ec2.Subnet(
            "private-a", vpc_id=vpc.id, cidr_block="10.0.0.0/20", availability_zone="us-west-2b"
        )
        pulumi.export("vpcId", vpc.id)
        pulumi.export("subnetId", subnet.id)
        pulumi.export("subnetAzId", subnet.availability_zone_id)

    plan = run(program)
    assert plan.outputs["vpcId"].startswith("vpc-")
    assert plan.outputs["subnetId"].startswith("subnet-")
    assert plan.outputs["subnetAzId"] == "usw2-az2"
    # A resource's ID flows into another resource's inputs.
    subnet = plan.one("aws:ec2/subnet:Subnet")
    assert subnet.inputs["vpcId"] == plan.outputs["vpcId"]
    assert subnet.dependencies == [plan.one("aws:ec2/vpc:Vpc").urn]
    assert subnet.urn == "urn:pulumi:dev::trainstack::aws:ec2/subnet:Subnet::private-a"


def test_get_reads_an_existing_resource():
    def program():
        vpc = aws.ec2.Vpc.get("shared", "vpc-0123456789abcdef0")
        pulumi.export("vpcArn", vpc.arn)

    plan = run(program)
    read = plan.one("aws:ec2/vpc:Vpc", "shared")
    assert read.custom and read.read_id == "vpc-0123456789abcdef0"
    assert plan.outputs["vpcArn"] == (
        f"arn:aws:ec2:us-west-2:{ACCOUNT_ID}:vpc/vpc-0123456789abcdef0"
    )


def test_image_build_dynamic_resource_gets_a_finished_builds_outputs():
    from components.image_build import ImageBuild, ImageBuildArgs

    source_hash = "ab" * 32
    url = f"{ACCOUNT_ID}.dkr.ecr.us-west-2.amazonaws.com/trainstack-dev/trainer"

    def program():
        repo = aws.ecr.Repository("repo", name="trainstack-dev/trainer")
        build = ImageBuild(
            "build",
            ImageBuildArgs(
                project_name="trainstack-dev-trainer",
                bucket="src-bucket",
                repository_name=repo.name,
                repository_url=repo.repository_url,
                region="us-west-2",
                source_root="/src",
                source_hash=source_hash,
                max_attempts=3,
                timeout_minutes=60,
            ),
        )
        pulumi.export("image", build.image)
        pulumi.export("tag", build.tag)

    plan = run(program)
    build = plan.one("pulumi-python:dynamic:Resource", "build")
    assert build.custom
    digest = build.state["digest"]
    assert digest.startswith("sha256:") and len(digest) == len("sha256:") + 64
    assert build.state["tag"] == "src-abababababab"
    assert build.state["image"] == f"{url}@{digest}" == plan.outputs["image"]
    project, _, build_uuid = build.state["build_id"].partition(":")
    assert project == "trainstack-dev-trainer" and len(build_uuid) == 36
    assert plan.outputs["tag"] == "src-abababababab"
    # The repository's outputs reached the build as inputs.
    assert build.inputs["repository_url"] == url
    assert build.inputs["source_hash"] == source_hash
    # The pickled provider is kept as a short fingerprint, not as a base64 blob.
    assert build.inputs["__provider"].startswith("[serialized provider sha256:")
    assert "__provider" not in build.state

    # Deterministic: the same source gives the same digest; another source another one.
    assert run(program).one("pulumi-python:dynamic:Resource").state["digest"] == digest
    source_hash = "cd" * 32
    assert run(program).one("pulumi-python:dynamic:Resource").state["digest"] != digest
