"""Cost and ownership tags on every taggable AWS resource the stack creates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import ADVISORY, Rule

# Listed rather than guessed from the inputs: an untagged resource has no `tags` input at all,
# which is exactly the case to catch.
TAGGABLE = (
    "eks:index:Cluster",
    "aws:eks/cluster:Cluster",
    "eks:index:ManagedNodeGroup",
    "aws:eks/nodeGroup:NodeGroup",
    "aws:eks/addon:Addon",
    "aws:eks/accessEntry:AccessEntry",
    "aws:eks/podIdentityAssociation:PodIdentityAssociation",
    "aws:ec2/vpc:Vpc",
    "aws:ec2/subnet:Subnet",
    "aws:ec2/routeTable:RouteTable",
    "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/natGateway:NatGateway",
    "aws:ec2/eip:Eip",
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/vpcEndpoint:VpcEndpoint",
    "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:ec2/instance:Instance",
    "aws:ec2/placementGroup:PlacementGroup",
    "aws:ecr/repository:Repository",
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketV2:BucketV2",
    "aws:kms/key:Key",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:cloudwatch/eventRule:EventRule",
    "aws:codebuild/project:Project",
    "aws:iam/role:Role",
    "aws:sqs/queue:Queue",
    "aws:efs/fileSystem:FileSystem",
    "aws:fsx/lustreFileSystem:LustreFileSystem",
)


def _tags(type_: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    tags = props.get("tags") or {}
    missing = [k for k in cfg["requiredTags"] if not tags.get(k)]
    if not missing:
        return []
    return [
        (
            f"missing required tags {missing}: add them to tags (the platform's common tags "
            "set them on every resource it creates)"
        )
    ]


RULES = [
    Rule(
        "required-tags",
        "Taggable AWS resources carry the required tags.",
        ADVISORY,
        TAGGABLE,
        _tags,
        {"requiredTags": {"type": "array", "items": {"type": "string"}, "default": ["managed-by"]}},
    ),
]
