"""Which AWS API field each Pulumi input becomes, and that field's rule read from botocore.

The rules (pattern, min/max length or value, enum) are never copied here: they are read at run
time from botocore's loaded service model, the machine-readable API definition AWS publishes.
A pattern applies to the whole value (`re.fullmatch`): the models write most of them unanchored
(`[\\w+=,.@-]+` for an IAM role name) while the API references describe the whole name.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

# (Pulumi resource type, input path) -> (botocore service, operation, input member path).
# `a.b` descends into a structure, `a[]` into each element of a list. An input whose own API
# member carries no rule but that names a resource with one (a cluster name passed to
# CreateAccessEntry) maps onto the field that creates that resource.
_CLUSTER = ("eks", "CreateCluster", "name")
FIELDS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("aws:ecr/repository:Repository", "name"): ("ecr", "CreateRepository", "repositoryName"),
    ("aws:ecr/repository:Repository", "imageTagMutability"): (
        "ecr",
        "CreateRepository",
        "imageTagMutability",
    ),
    ("aws:ecr/repository:Repository", "encryptionConfigurations[].encryptionType"): (
        "ecr",
        "CreateRepository",
        "encryptionConfiguration.encryptionType",
    ),
    ("aws:ecr/lifecyclePolicy:LifecyclePolicy", "repository"): (
        "ecr",
        "PutLifecyclePolicy",
        "repositoryName",
    ),
    ("aws:ecr/lifecyclePolicy:LifecyclePolicy", "policy"): (
        "ecr",
        "PutLifecyclePolicy",
        "lifecyclePolicyText",
    ),
    ("aws:ecr/pullThroughCacheRule:PullThroughCacheRule", "ecrRepositoryPrefix"): (
        "ecr",
        "CreatePullThroughCacheRule",
        "ecrRepositoryPrefix",
    ),
    ("aws:ecr/pullThroughCacheRule:PullThroughCacheRule", "upstreamRegistryUrl"): (
        "ecr",
        "CreatePullThroughCacheRule",
        "upstreamRegistryUrl",
    ),
    ("aws:ecr/repositoryPolicy:RepositoryPolicy", "repository"): (
        "ecr",
        "SetRepositoryPolicy",
        "repositoryName",
    ),
    ("aws:secretsmanager/secret:Secret", "name"): ("secretsmanager", "CreateSecret", "Name"),
    ("eks:index:Cluster", "name"): _CLUSTER,
    ("aws:eks/cluster:Cluster", "name"): _CLUSTER,
    ("aws:eks/addon:Addon", "clusterName"): ("eks", "CreateAddon", "clusterName"),
    ("aws:eks/addon:Addon", "resolveConflictsOnCreate"): ("eks", "CreateAddon", "resolveConflicts"),
    ("aws:eks/addon:Addon", "resolveConflictsOnUpdate"): ("eks", "UpdateAddon", "resolveConflicts"),
    ("aws:eks/accessEntry:AccessEntry", "clusterName"): _CLUSTER,
    ("aws:eks/podIdentityAssociation:PodIdentityAssociation", "clusterName"): _CLUSTER,
    ("aws:eks/nodeGroup:NodeGroup", "clusterName"): _CLUSTER,
    ("eks:index:ManagedNodeGroup", "capacityType"): ("eks", "CreateNodegroup", "capacityType"),
    ("eks:index:ManagedNodeGroup", "amiType"): ("eks", "CreateNodegroup", "amiType"),
    ("aws:iam/role:Role", "name"): ("iam", "CreateRole", "RoleName"),
    ("aws:iam/role:Role", "path"): ("iam", "CreateRole", "Path"),
    ("aws:iam/role:Role", "description"): ("iam", "CreateRole", "Description"),
    ("aws:iam/role:Role", "maxSessionDuration"): ("iam", "CreateRole", "MaxSessionDuration"),
    ("aws:iam/role:Role", "assumeRolePolicy"): ("iam", "CreateRole", "AssumeRolePolicyDocument"),
    ("aws:iam/role:Role", "inlinePolicies[].name"): ("iam", "PutRolePolicy", "PolicyName"),
    ("aws:iam/role:Role", "inlinePolicies[].policy"): ("iam", "PutRolePolicy", "PolicyDocument"),
    ("aws:iam/rolePolicy:RolePolicy", "name"): ("iam", "PutRolePolicy", "PolicyName"),
    ("aws:iam/rolePolicy:RolePolicy", "role"): ("iam", "PutRolePolicy", "RoleName"),
    ("aws:iam/rolePolicy:RolePolicy", "policy"): ("iam", "PutRolePolicy", "PolicyDocument"),
    ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "role"): (
        "iam",
        "AttachRolePolicy",
        "RoleName",
    ),
    ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "policyArn"): (
        "iam",
        "AttachRolePolicy",
        "PolicyArn",
    ),
    ("aws:iam/policy:Policy", "name"): ("iam", "CreatePolicy", "PolicyName"),
    ("aws:iam/policy:Policy", "path"): ("iam", "CreatePolicy", "Path"),
    ("aws:iam/policy:Policy", "policy"): ("iam", "CreatePolicy", "PolicyDocument"),
    ("aws:iam/instanceProfile:InstanceProfile", "name"): (
        "iam",
        "CreateInstanceProfile",
        "InstanceProfileName",
    ),
    ("aws:iam/instanceProfile:InstanceProfile", "role"): (
        "iam",
        "AddRoleToInstanceProfile",
        "RoleName",
    ),
    ("aws:codebuild/project:Project", "name"): ("codebuild", "CreateProject", "name"),
    ("aws:codebuild/project:Project", "description"): ("codebuild", "CreateProject", "description"),
    ("aws:codebuild/project:Project", "buildTimeout"): (
        "codebuild",
        "CreateProject",
        "timeoutInMinutes",
    ),
    ("aws:codebuild/project:Project", "queuedTimeout"): (
        "codebuild",
        "CreateProject",
        "queuedTimeoutInMinutes",
    ),
    ("aws:codebuild/project:Project", "environment.computeType"): (
        "codebuild",
        "CreateProject",
        "environment.computeType",
    ),
    ("aws:codebuild/project:Project", "environment.type"): (
        "codebuild",
        "CreateProject",
        "environment.type",
    ),
    ("aws:codebuild/project:Project", "source.type"): ("codebuild", "CreateProject", "source.type"),
    ("aws:codebuild/project:Project", "artifacts.type"): (
        "codebuild",
        "CreateProject",
        "artifacts.type",
    ),
    ("aws:codebuild/project:Project", "cache.type"): ("codebuild", "CreateProject", "cache.type"),
    ("aws:codebuild/project:Project", "cache.modes[]"): (
        "codebuild",
        "CreateProject",
        "cache.modes[]",
    ),
    ("aws:cloudwatch/eventRule:EventRule", "name"): ("events", "PutRule", "Name"),
    ("aws:cloudwatch/eventRule:EventRule", "description"): ("events", "PutRule", "Description"),
    ("aws:cloudwatch/eventRule:EventRule", "scheduleExpression"): (
        "events",
        "PutRule",
        "ScheduleExpression",
    ),
    ("aws:cloudwatch/eventRule:EventRule", "eventPattern"): ("events", "PutRule", "EventPattern"),
    ("aws:cloudwatch/eventRule:EventRule", "state"): ("events", "PutRule", "State"),
    ("aws:cloudwatch/eventTarget:EventTarget", "rule"): ("events", "PutTargets", "Rule"),
    ("aws:cloudwatch/eventTarget:EventTarget", "targetId"): (
        "events",
        "PutTargets",
        "Targets[].Id",
    ),
    ("aws:cloudwatch/logGroup:LogGroup", "name"): ("logs", "CreateLogGroup", "logGroupName"),
    ("aws:kms/alias:Alias", "name"): ("kms", "CreateAlias", "AliasName"),
    ("aws:kms/key:Key", "description"): ("kms", "CreateKey", "Description"),
    ("aws:kms/key:Key", "policy"): ("kms", "CreateKey", "Policy"),
    ("aws:kms/key:Key", "keyUsage"): ("kms", "CreateKey", "KeyUsage"),
    ("aws:kms/key:Key", "customerMasterKeySpec"): ("kms", "CreateKey", "KeySpec"),
    ("aws:kms/key:Key", "deletionWindowInDays"): (
        "kms",
        "ScheduleKeyDeletion",
        "PendingWindowInDays",
    ),
    ("aws:efs/fileSystem:FileSystem", "creationToken"): (
        "efs",
        "CreateFileSystem",
        "CreationToken",
    ),
    ("aws:efs/fileSystem:FileSystem", "performanceMode"): (
        "efs",
        "CreateFileSystem",
        "PerformanceMode",
    ),
    ("aws:efs/fileSystem:FileSystem", "throughputMode"): (
        "efs",
        "CreateFileSystem",
        "ThroughputMode",
    ),
    **{
        ("aws:fsx/lustreFileSystem:LustreFileSystem", path): ("fsx", "CreateFileSystem", member)
        for path, member in (
            ("storageCapacity", "StorageCapacity"),
            ("storageType", "StorageType"),
            ("subnetIds", "SubnetIds[]"),
            ("securityGroupIds[]", "SecurityGroupIds[]"),
            ("kmsKeyId", "KmsKeyId"),
            ("fileSystemTypeVersion", "FileSystemTypeVersion"),
            ("deploymentType", "LustreConfiguration.DeploymentType"),
            ("perUnitStorageThroughput", "LustreConfiguration.PerUnitStorageThroughput"),
            ("dataCompressionType", "LustreConfiguration.DataCompressionType"),
            ("metadataConfiguration.mode", "LustreConfiguration.MetadataConfiguration.Mode"),
            ("metadataConfiguration.iops", "LustreConfiguration.MetadataConfiguration.Iops"),
        )
    },
    **{
        ("aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation", path): (
            "fsx",
            "CreateDataRepositoryAssociation",
            member,
        )
        for path, member in (
            ("fileSystemPath", "FileSystemPath"),
            ("dataRepositoryPath", "DataRepositoryPath"),
            ("importedFileChunkSize", "ImportedFileChunkSize"),
            ("s3.autoImportPolicy.events[]", "S3.AutoImportPolicy.Events[]"),
            ("s3.autoExportPolicy.events[]", "S3.AutoExportPolicy.Events[]"),
        )
    },
    ("aws:ec2/launchTemplate:LaunchTemplate", "description"): (
        "ec2",
        "CreateLaunchTemplate",
        "VersionDescription",
    ),
    ("aws:ec2/placementGroup:PlacementGroup", "strategy"): (
        "ec2",
        "CreatePlacementGroup",
        "Strategy",
    ),
    ("aws:ec2/vpcEndpoint:VpcEndpoint", "vpcEndpointType"): (
        "ec2",
        "CreateVpcEndpoint",
        "VpcEndpointType",
    ),
    ("aws:ec2/eip:Eip", "domain"): ("ec2", "AllocateAddress", "Domain"),
}


@dataclass(frozen=True)
class FieldRule:
    """One API field's constraints as the service model states them."""

    where: str  # "iam CreateRole.RoleName"
    kind: str  # botocore type name: string, integer, long, double
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    enum: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = []
        unit = " characters" if self.kind == "string" else ""
        if self.min is not None and self.max is not None:
            parts.append(f"{_num(self.min)}..{_num(self.max)}{unit}")
        elif self.min is not None:
            parts.append(f"at least {_num(self.min)}{unit}")
        elif self.max is not None:
            parts.append(f"at most {_num(self.max)}{unit}")
        if self.pattern:
            parts.append(f"pattern {self.pattern}")
        if self.enum:
            parts.append("one of " + ", ".join(self.enum))
        return f"{self.where}: " + ("; ".join(parts) or "no constraint in the model")

    @property
    def empty(self) -> bool:
        return self.min is None and self.max is None and not self.pattern and not self.enum

    def problem(self, value: Any) -> str | None:
        """Why `value` breaks this rule, or None. Values of another type are not judged here."""
        if self.kind == "string" and isinstance(value, str):
            if self.min is not None and len(value) < self.min:
                return f"{len(value)} characters, below the minimum"
            if self.max is not None and len(value) > self.max:
                return f"{len(value)} characters, above the maximum"
            if self.enum and value not in self.enum:
                return "not an allowed value"
            if (
                self.pattern
                and _compiled(self.pattern) is not None
                and not _compiled(self.pattern).fullmatch(value)
            ):
                return "does not match the pattern"
        elif (
            self.kind in ("integer", "long", "double")
            and isinstance(value, (int, float))
            and not isinstance(value, bool)
        ):
            if self.min is not None and value < self.min:
                return "below the minimum"
            if self.max is not None and value > self.max:
                return "above the maximum"
        return None


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@functools.cache
def _compiled(pattern: str) -> re.Pattern | None:
    try:
        # ASCII: the models' \w means [A-Za-z0-9_], as the API references spell it out.
        return re.compile(pattern, re.ASCII)
    except re.error:  # a pattern in a syntax Python lacks: not judged rather than misjudged
        return None


@functools.cache
def _service_model(service: str):
    return _session().get_service_model(service)


@functools.lru_cache(maxsize=1)
def _session():
    import botocore.session

    return botocore.session.get_session()


@functools.cache
def field_rule(service: str, operation: str, member: str) -> FieldRule:
    """The rule of `member` (a dotted path, `[]` for list elements) of `operation`'s input."""
    shape = _service_model(service).operation_model(operation).input_shape
    for part in member.split("."):
        shape = shape.members[part.removesuffix("[]")]
        if part.endswith("[]"):
            shape = shape.member
    meta = shape.metadata
    return FieldRule(
        where=f"{service} {operation}.{member}",
        kind=shape.type_name,
        min=meta.get("min"),
        max=meta.get("max"),
        pattern=meta.get("pattern"),
        enum=tuple(getattr(shape, "enum", None) or ()),
    )


def rule_for(resource_type: str, input_path: str) -> FieldRule | None:
    target = FIELDS.get((resource_type, input_path))
    return field_rule(*target) if target else None
