"""The physical name AWS sees when the program gives none, or only a prefix.

- No name: pulumi-aws auto-names every resource with a `name` input as the logical name, '-' and
  7 random hex digits (pulumi-aws provider/resources.go `setAutonaming` ->
  pulumi-terraform-bridge tfbridge `AutoName`, Randlen 7). The plan checks that name, with a
  stand-in suffix of the same length and alphabet: a logical name too long for the field fails
  at `pulumi up` just like an explicit one.
- A prefix: terraform-provider-aws appends a 26-digit unique suffix (internal/create `Name` ->
  terraform-plugin-sdk helper/id `PrefixedUniqueId`, `UniqueIDSuffixLength = 26`), so a prefix
  may use the field's maximum minus 26 (38 for an IAM role, 37 for an S3 bucket).
"""

from __future__ import annotations

AUTONAME_SUFFIX = "-0a1b2c3"  # '-' + 7 hex digits, as the bridge appends
PREFIX_SUFFIX = "0" * 26  # PrefixedUniqueId's 26 digits

# Pulumi type -> (input holding the name, input holding a prefix or None, auto-named by Pulumi).
# The types are those with a name rule in api_fields/documented; `bucket` is the S3 name input.
NAMED: dict[str, tuple[str, str | None, bool]] = {
    "aws:iam/role:Role": ("name", "namePrefix", True),
    "aws:iam/policy:Policy": ("name", "namePrefix", True),
    "aws:iam/rolePolicy:RolePolicy": ("name", "namePrefix", True),
    "aws:iam/instanceProfile:InstanceProfile": ("name", "namePrefix", True),
    "aws:cloudwatch/eventRule:EventRule": ("name", "namePrefix", True),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "namePrefix", True),
    "aws:sqs/queue:Queue": ("name", "namePrefix", True),
    "aws:codebuild/project:Project": ("name", None, True),
    "aws:ecr/repository:Repository": ("name", None, True),
    "aws:kms/alias:Alias": ("name", "namePrefix", False),
    "aws:s3/bucket:Bucket": ("bucket", "bucketPrefix", True),
    "aws:s3/bucketV2:BucketV2": ("bucket", "bucketPrefix", True),
    # Not auto-named from the logical name by the engine: left unchecked when neither is given.
    "eks:index:ManagedNodeGroup": ("nodeGroupName", "nodeGroupNamePrefix", False),
    "aws:eks/nodeGroup:NodeGroup": ("nodeGroupName", "nodeGroupNamePrefix", False),
}


def physical_name(resource_type: str, logical: str, inputs: dict) -> tuple[str, str, str] | None:
    """(input it comes from, the name AWS would get, how it was made), or None if unknown."""
    if resource_type not in NAMED:
        return None
    field, prefix_field, auto = NAMED[resource_type]
    value = inputs.get(field)
    if isinstance(value, str) and value:
        return field, value, "given"
    prefix = inputs.get(prefix_field) if prefix_field else None
    if isinstance(prefix, str) and prefix:
        return (
            prefix_field,
            prefix + PREFIX_SUFFIX,
            f"{prefix_field} + the provider's 26-digit suffix",
        )
    if auto and value is None:
        return (
            "(auto-name)",
            logical + AUTONAME_SUFFIX,
            "logical name + Pulumi's '-' and 7 random hex digits",
        )
    return None
