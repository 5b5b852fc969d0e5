"""The state the mock engine answers for a custom resource: its inputs echoed, plus the outputs
the provider would add (ids with the real prefixes, ARNs, URLs, a finished image build's digest).

Components never get their inputs echoed (a component output named like an input would clash).
"""

from __future__ import annotations

import copy
import hashlib

from ..sdk import mocks as sdk_mocks
from ..secrets import is_secret, unwrap_secrets
from .eks import eks_cluster_state
from .values import ACCOUNT_ID, fake_uuid, hex_digest, kebab, zone_id_prefix

# Python dynamic resources (components/image_build.py) carry their pickled provider as an input.
DYNAMIC_TYPE = "pulumi-python:dynamic:Resource"
DYNAMIC_PROVIDER_KEY = "__provider"


def plan_inputs(type_: str, inputs: dict) -> dict:
    """Inputs as the plan keeps them: a dynamic resource's pickled provider (base64, often
    kilobytes) becomes a short fingerprint, so a plan stays readable and still shows a change."""
    out = copy.deepcopy(inputs)
    if type_ == DYNAMIC_TYPE and DYNAMIC_PROVIDER_KEY in out:
        blob = unwrap_secrets(out[DYNAMIC_PROVIDER_KEY])
        out[DYNAMIC_PROVIDER_KEY] = (
            f"[serialized provider sha256:{hex_digest(str(blob), length=12)}]"
        )
    return out


# EC2 resource id prefixes, so ids look like the real ones.
_EC2_ID_PREFIX = {
    "vpc": "vpc",
    "subnet": "subnet",
    "securityGroup": "sg",
    "internetGateway": "igw",
    "natGateway": "nat",
    "eip": "eipalloc",
    "routeTable": "rtb",
    "launchTemplate": "lt",
    "vpcEndpoint": "vpce",
    "networkAcl": "acl",
    "networkInterface": "eni",
    "instance": "i",
    "securityGroupRule": "sgrule",
}

_GLOBAL_SERVICES = {"iam", "s3", "cloudfront", "route53"}
_SERVICE_ALIASES = {"cloudwatch": "events", "ecrpublic": "ecr-public", "cognito": "cognito-idp"}


def _aws_parts(type_: str) -> tuple[str, str]:
    """``aws:ec2/securityGroup:SecurityGroup`` -> (``ec2``, ``securityGroup``)."""
    _pkg, module, _typ = type_.split(":", 2)
    service, _, lower = module.partition("/")
    return service, lower or _typ


def custom_state(
    args: sdk_mocks.MockResourceArgs, urn: str, region: str, az_names: list[str]
) -> tuple[str, dict]:
    """The fake ID and output state of a custom resource (``region``: the stack's)."""
    typ, name = args.typ, args.name
    state = copy.deepcopy(args.inputs)
    if typ.startswith("pulumi:providers:"):
        return args.resource_id or f"{name}-provider-id", state
    if typ.startswith("kubernetes:"):
        # Kubernetes objects are auto-named after the resource (without the random suffix).
        meta = state.setdefault("metadata", {}) if "apiVersion" in state else None
        if isinstance(meta, dict) and not is_secret(meta) and not meta.get("name"):
            meta["name"] = name
        return args.resource_id or name, state
    if typ == DYNAMIC_TYPE:
        return _dynamic_state(name, urn, state, args.resource_id)
    if not typ.startswith("aws:"):
        state.setdefault("name", name)
        return args.resource_id or f"{name}-id", state
    return _aws_state(typ, name, urn, state, args.resource_id, region, az_names)


def _aws_state(
    typ: str,
    name: str,
    urn: str,
    state: dict,
    read_id: str | None,
    stack_region: str,
    az_names: list[str],
) -> tuple[str, dict]:
    service, kind = _aws_parts(typ)
    region = unwrap_secrets(state.get("region")) or stack_region
    phys = unwrap_secrets(state.get("name"))
    if not isinstance(phys, str) or not phys:
        prefix = unwrap_secrets(state.get("namePrefix"))
        phys = (
            f"{prefix}{hex_digest(urn, length=8)}" if isinstance(prefix, str) and prefix else name
        )
    state.setdefault("name", phys)
    arn_service = _SERVICE_ALIASES.get(service, service)
    arn_region = "" if service in _GLOBAL_SERVICES else region
    hexid = hex_digest(urn)
    rid = read_id or f"{name}-id"

    if service == "ec2" and kind in _EC2_ID_PREFIX:
        rid = read_id or f"{_EC2_ID_PREFIX[kind]}-{hexid}"
        state.setdefault("arn", f"arn:aws:ec2:{region}:{ACCOUNT_ID}:{kebab(kind)}/{rid}")
        state.setdefault("ownerId", ACCOUNT_ID)
        if kind == "vpc":
            state.setdefault("defaultSecurityGroupId", f"sg-{hex_digest(urn, 'sg')}")
            state.setdefault("defaultRouteTableId", f"rtb-{hex_digest(urn, 'rtb')}")
            state.setdefault("mainRouteTableId", f"rtb-{hex_digest(urn, 'rtb')}")
            state.setdefault("defaultNetworkAclId", f"acl-{hex_digest(urn, 'acl')}")
        elif kind == "subnet":
            az = state.get("availabilityZone") or az_names[0]
            state.setdefault("availabilityZone", az)
            idx = az_names.index(az) + 1 if az in az_names else 1
            state.setdefault("availabilityZoneId", f"{zone_id_prefix(region)}-az{idx}")
        elif kind == "launchTemplate":
            # Read back as the version a node group pins (a real template starts at 1).
            state.setdefault("latestVersion", 1)
            state.setdefault("defaultVersion", 1)
        elif kind == "eip":
            state.setdefault("allocationId", rid)
            state.setdefault("publicIp", "198.51.100." + str(int(hexid[:2], 16) % 250 + 1))
    elif typ == "aws:sqs/queue:Queue":
        if state.get("fifoQueue") and not phys.endswith(".fifo"):
            phys += ".fifo"
        state["name"] = phys
        state.setdefault("arn", f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{phys}")
        state.setdefault("url", f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{phys}")
        rid = read_id or state["url"]
    elif typ == "aws:kms/key:Key":
        key_id = read_id or fake_uuid(urn)
        rid = key_id
        state.setdefault("keyId", key_id)
        state.setdefault("arn", f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key_id}")
    elif typ == "aws:kms/alias:Alias":
        state.setdefault("arn", f"arn:aws:kms:{region}:{ACCOUNT_ID}:{phys}")
        rid = read_id or phys
    elif service == "iam" and kind in (
        "role",
        "user",
        "policy",
        "instanceProfile",
        "openIdConnectProvider",
    ):
        path = unwrap_secrets(state.get("path")) or "/"
        arn_kind = "oidc-provider" if kind == "openIdConnectProvider" else kebab(kind)
        state.setdefault("arn", f"arn:aws:iam::{ACCOUNT_ID}:{arn_kind}{path}{phys}")
        state.setdefault("uniqueId", "AROA" + hex_digest(urn, length=17).upper())
        rid = read_id or (state["arn"] if kind == "policy" else phys)
        if kind == "role":
            state.setdefault("path", path)
    elif service == "s3" and kind.startswith("bucket"):
        bucket = unwrap_secrets(state.get("bucket")) or phys
        state.setdefault("bucket", bucket)
        state.setdefault("arn", f"arn:aws:s3:::{bucket}")
        state.setdefault("bucketDomainName", f"{bucket}.s3.amazonaws.com")
        state.setdefault("bucketRegionalDomainName", f"{bucket}.s3.{region}.amazonaws.com")
        rid = read_id or bucket
    elif typ == "aws:ecr/repository:Repository":
        state.setdefault("arn", f"arn:aws:ecr:{region}:{ACCOUNT_ID}:repository/{phys}")
        state.setdefault("registryId", ACCOUNT_ID)
        state.setdefault("repositoryUrl", f"{ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/{phys}")
        rid = read_id or phys
    elif typ == "aws:cloudwatch/eventRule:EventRule":
        bus = state.get("eventBusName")
        path = f"rule/{bus}/{phys}" if bus and bus != "default" else f"rule/{phys}"
        state.setdefault("arn", f"arn:aws:events:{region}:{ACCOUNT_ID}:{path}")
        rid = read_id or phys
    elif typ == "aws:cloudwatch/logGroup:LogGroup":
        state.setdefault("arn", f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{phys}")
        rid = read_id or phys
    elif typ == "aws:fsx/lustreFileSystem:LustreFileSystem":
        # botocore fsx FileSystemId ^(fs-[0-9a-f]{8,})$; LustreFileSystemMountName: "fsx" for
        # SCRATCH_1, else up to 8 [A-Za-z0-9_-] unique in the region; DNS <id>.fsx.<region>.
        rid = read_id or f"fs-{hexid}"
        state.setdefault("arn", f"arn:aws:fsx:{region}:{ACCOUNT_ID}:file-system/{rid}")
        state.setdefault("dnsName", f"{rid}.fsx.{region}.amazonaws.com")
        scratch1 = state.get("deploymentType") in (None, "SCRATCH_1")
        state.setdefault("mountName", "fsx" if scratch1 else hex_digest(urn, "mount", length=8))
    elif typ == "aws:fsx/dataRepositoryAssociation:DataRepositoryAssociation":
        rid = read_id or f"dra-{hexid}"
        fs_id = unwrap_secrets(state.get("fileSystemId"))
        state.setdefault("arn", f"arn:aws:fsx:{region}:{ACCOUNT_ID}:association/{fs_id}/{rid}")
    elif typ == "aws:eks/cluster:Cluster":
        state.update(
            {
                k: v
                for k, v in eks_cluster_state(phys, urn, state, stack_region).items()
                if k not in state
            }
        )
        rid = read_id or phys
    else:
        state.setdefault(
            "arn", f"arn:aws:{arn_service}:{arn_region}:{ACCOUNT_ID}:{kebab(kind)}/{phys}"
        )
    return rid, state


def _dynamic_state(name: str, urn: str, state: dict, read_id: str | None) -> tuple[str, dict]:
    """A dynamic resource: an ImageBuild gets the outputs a finished build would give."""
    state.pop(DYNAMIC_PROVIDER_KEY, None)
    plain = unwrap_secrets(state)
    source_hash, repo_url = plain.get("source_hash"), plain.get("repository_url")
    if not (isinstance(source_hash, str) and isinstance(repo_url, str)):
        return read_id or f"{name}-id", state
    digest = "sha256:" + hashlib.sha256(f"offline-image\x00{source_hash}".encode()).hexdigest()
    state.update(
        {
            "tag": f"src-{source_hash[:12]}",
            "digest": digest,
            "image": f"{repo_url}@{digest}",
            "build_id": f"{plain.get('project_name') or name}:{fake_uuid(urn, source_hash)}",
        }
    )
    return read_id or f"{plain.get('repository_name') or name}@{digest}", state
