"""Typed stack config: `Pulumi.<stack>.yaml` -> validated `PlatformConfig`, before any resource.

Keys are camelCase as in the stack file; unknown keys are errors. Every problem is reported as
one line naming the key path (`trainstack:nodeGroups.gpu-g5.maxSize`), the bad value and what is
allowed, and all problems of a stack file are reported together.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError

import aws_rules
from policies.required import REQUIRED_LOG_TYPES

from . import aws_names, catalog, k8s_names, versions
from .config_base import (
    DNS_LABEL,
    LOG_RETENTION_DAYS,
    PROJECT,
    STACK_LABELS,
    ConfigError,
    _Model,
)
from .config_base import key as _key
from .workload_config import (
    DevPodConfig,
    ImageConfig,
    PoolFacts,
    TrainingJobConfig,
    VolumeConfig,
    check_workloads,
)

__all__ = ["ConfigError", "PROJECT", "PlatformConfig", "parse", "parse_pulumi_config", "load"]

DURATION = r"^(\d+h)?(\d+m)?(\d+s)?$"
# A CUDA training image is several GB: a node emptied for less than a pull must not be reclaimed.
MIN_CONSOLIDATE_AFTER_S = 300
MIN_GPU_DISK_GIB = 100
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
# Keys that must be set with `pulumi config set --secret`.
SECRET_KEYS = ("hfToken", "devPodSshKeys")
IAM_PRINCIPAL = r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$"

# Label domains (and their subdomains) no node label from config may use, with who refuses them.
_K8S_RESERVED = (
    'reserved for Kubernetes; EKS CreateNodegroup refuses it ("Label cannot contain '
    "reserved prefixes\") and the kubelet's NodeRestriction admission limits it"
)
RESERVED_LABEL_DOMAINS = {
    "kubernetes.io": _K8S_RESERVED,
    "k8s.io": _K8S_RESERVED,
    "eks.amazonaws.com": "reserved for EKS; CreateNodegroup refuses it",
    # Karpenter v1.14.1 pkg/apis/crds/karpenter.sh_nodepools.yaml, template.metadata.labels rules.
    "karpenter.sh": "restricted by Karpenter (NodePool CRD validation); Karpenter sets it",
    "karpenter.k8s.aws": "restricted by Karpenter (NodePool CRD validation); Karpenter sets it",
}
# jobsNamespace may not be one the cluster owns or one the stack's add-ons run in: the stack
# creates it (a Namespace that exists fails to create) and confines it with Pod Security labels.
# "default" holds the `kubernetes` Service and whatever lands there unqualified. The tests
# (test_config_kubernetes_rules.py) tie each add-on entry to the namespace its component uses.
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "default")
ADDON_NAMESPACES = {
    "kube-system": "Karpenter, the NVIDIA and EFA device plugins",
    "kubeflow": "the Kubeflow training operator",
    "kuberay-system": "the KubeRay operator",
}


# ---------------------------------------------------------------------------------------- models


class EndpointConfig(_Model):
    """The API server endpoint: always private; public only for listed CIDRs."""

    public: bool = False
    public_access_cidrs: list[ipaddress.IPv4Network] = []
    # 0.0.0.0/0 needs this explicit opt-in: the API server would be reachable from anywhere.
    allow_public_from_anywhere: bool = False


class ClusterConfig(_Model):
    # Checked in _check_cluster against AWS's rules for every name derived from it.
    name: str = Field(min_length=1)
    # A float here is YAML reading 1.30 as 1.3: reported with a hint to quote it.
    kubernetes_version: str | float = versions.KUBERNETES_DEFAULT
    endpoint: EndpointConfig = EndpointConfig()
    admin_principals: list[str] = []
    log_types: list[Literal[LOG_TYPES]] = list(REQUIRED_LOG_TYPES)  # type: ignore[valid-type]
    log_retention_days: int = 30
    tags: dict[str, str] = {}


class NetworkConfig(_Model):
    cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.0.0.0/16")
    az_count: int = 2
    nat_gateways: Literal["single", "perAz"] = "single"
    # ECR/STS/SQS/EC2 interface endpoints: less NAT traffic for image pulls, ~$7/month each per AZ.
    interface_endpoints: bool = False
    # The one zone of all EFA capacity (default: the first zone). Zone names map to different
    # physical zones per account, and EFA sizes are not offered in every zone.
    efa_zone: str | None = None


class NodeGroupConfig(_Model):
    role: Literal["system", "gpu"] = "gpu"
    instance_types: list[str] = Field(min_length=1)
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    min_size: int = Field(ge=0)
    desired_size: int | None = Field(default=None, ge=0)
    max_size: int = Field(ge=0)
    efa: bool = False
    labels: dict[str, str] = {}
    disk_size_gib: int = Field(default=100, ge=20, le=16384)

    @property
    def desired(self) -> int:
        return self.min_size if self.desired_size is None else self.desired_size

    @property
    def gpus_per_node(self) -> int:
        return max(
            (
                catalog.GPU_INSTANCES[t].gpus
                for t in self.instance_types
                if t in catalog.GPU_INSTANCES
            ),
            default=0,
        )


class NodePoolConfig(_Model):
    """A Karpenter NodePool of GPU nodes; `maxGpus` is its cost ceiling and is required."""

    instance_families: list[str] = []
    instance_types: list[str] = []
    capacity_types: list[Literal["spot", "on-demand"]] = Field(default=["on-demand"], min_length=1)
    max_gpus: int | None = Field(default=None, ge=1)
    max_nodes: int | None = Field(default=None, ge=1)
    consolidate_after: str = Field(default="15m", pattern=DURATION)
    efa: bool = False
    labels: dict[str, str] = {}
    disk_size_gib: int = Field(default=200, ge=MIN_GPU_DISK_GIB, le=16384)
    weight: int | None = Field(default=None, ge=1, le=100)

    def allowed_instances(self) -> list[catalog.GpuInstance]:
        """The GPU instance types this pool may launch (EFA-capable ones only when `efa`)."""
        if self.instance_types:
            found = [
                catalog.GPU_INSTANCES[t] for t in self.instance_types if t in catalog.GPU_INSTANCES
            ]
        else:
            found = [i for f in self.instance_families for i in catalog.family_instances(f)]
        return [i for i in found if i.efa or not self.efa]


class KarpenterConfig(_Model):
    enabled: bool = True
    chart_version: str = Field(default=versions.KARPENTER_VERSION, pattern=r"^\d+\.\d+\.\d+$")
    ami_alias: str = versions.KARPENTER_AMI_ALIAS
    node_pools: dict[str, NodePoolConfig] = {}
    # The EC2 Spot service-linked role must exist once per account for spot capacity; creating it
    # fails if it already exists, so it is opt-in.
    create_spot_service_linked_role: bool = False


class AddonConfig(_Model):
    enabled: bool = True
    version: str


# One subclass per add-on so its version defaults to the pin: `{enabled: false}` is enough.
class NvidiaDevicePluginConfig(AddonConfig):
    version: str = versions.NVIDIA_DEVICE_PLUGIN_VERSION


class EfaDevicePluginConfig(AddonConfig):
    version: str = versions.EFA_DEVICE_PLUGIN_VERSION


class TrainingOperatorConfig(AddonConfig):
    version: str = versions.TRAINING_OPERATOR_VERSION


class KubeRayConfig(AddonConfig):
    version: str = versions.KUBERAY_VERSION


class AddonsConfig(_Model):
    nvidia_device_plugin: NvidiaDevicePluginConfig = NvidiaDevicePluginConfig()
    efa_device_plugin: EfaDevicePluginConfig = EfaDevicePluginConfig()
    training_operator: TrainingOperatorConfig = TrainingOperatorConfig()
    kuberay: KubeRayConfig = KubeRayConfig()


class PlatformConfig(_Model):
    cluster: ClusterConfig
    network: NetworkConfig = NetworkConfig()
    node_groups: dict[str, NodeGroupConfig]
    karpenter: KarpenterConfig = KarpenterConfig()
    addons: AddonsConfig = AddonsConfig()
    image: ImageConfig = ImageConfig()
    volumes: dict[str, VolumeConfig] = {}
    training_jobs: dict[str, TrainingJobConfig] = {}
    dev_pod: DevPodConfig = DevPodConfig()
    jobs_namespace: str = "training"  # checked in _check_jobs_namespace
    # Secrets (`pulumi config set --secret`): only their presence is checked here; the program
    # reads them as secret Outputs, so they never leave Pulumi's secret handling.
    hf_token: SecretStr | None = None
    dev_pod_ssh_keys: SecretStr | None = None
    tags: dict[str, str] = {}
    # Not a trainstack key: `aws:region`, checked against the zone table.
    region: str = Field(default="us-west-2", exclude=True)

    @property
    def system_group(self) -> tuple[str, NodeGroupConfig]:
        return next((n, g) for n, g in self.node_groups.items() if g.role == "system")

    @property
    def gpu_groups(self) -> dict[str, NodeGroupConfig]:
        return {n: g for n, g in self.node_groups.items() if g.role == "gpu"}

    @property
    def node_pools(self) -> dict[str, NodePoolConfig]:
        return self.karpenter.node_pools if self.karpenter.enabled else {}

    @property
    def efa_in_use(self) -> bool:
        return any(g.efa for g in self.gpu_groups.values()) or any(
            p.efa for p in self.node_pools.values()
        )

    def gpu_ceiling(self) -> int:
        """The most GPUs this stack can ever run: every group at maxSize, every pool at maxGpus."""
        return sum(g.max_size * g.gpus_per_node for g in self.gpu_groups.values()) + sum(
            p.max_gpus or 0 for p in self.node_pools.values()
        )

    def zones(self) -> tuple[str, ...]:
        return catalog.REGION_ZONES[self.region][: self.network.az_count]

    @property
    def efa_zone(self) -> str:
        """The one zone of every EFA node group and EFA NodePool: `network.efaZone`, else the
        first configured zone.

        EFA traffic stays within a zone and a cluster placement group cannot span zones, so all
        EFA capacity shares this zone (and reaches FSx/EFS mount targets there without crossing).
        """
        return self.network.efa_zone or self.zones()[0]

    def pools(self) -> dict[str, PoolFacts]:
        """Every GPU pool a job may name: Karpenter NodePools and GPU managed node groups."""
        out = {
            n: PoolFacts(
                n,
                False,
                tuple(
                    catalog.GPU_INSTANCES[t] for t in g.instance_types if t in catalog.GPU_INSTANCES
                ),
                g.max_size,
                g.max_size * g.gpus_per_node,
                g.efa,
            )
            for n, g in self.gpu_groups.items()
        }
        out.update(
            {
                n: PoolFacts(n, True, tuple(p.allowed_instances()), p.max_nodes, p.max_gpus, p.efa)
                for n, p in self.node_pools.items()
            }
        )
        return out

    @property
    def secrets_set(self) -> set[str]:
        return {
            k
            for k, v in (("hfToken", self.hf_token), ("devPodSshKeys", self.dev_pod_ssh_keys))
            if v is not None and v.get_secret_value()
        }


# ------------------------------------------------------------------------------ semantic checks


def _seconds(duration: str) -> int:
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", duration))


CLUSTER_NAME_CHARS = (
    "lowercase letters, digits and '-', beginning and ending with a letter or digit"
)


def _derived_name_problems(cluster: str) -> list[str]:
    return [
        f"{value!r} ({rtype.split(':')[-1]} {field}) breaks {rule}: {problem}"
        for rtype, field, value in aws_names.derived(cluster)
        for rule, problem in aws_rules.problems(rtype, field, value)
    ]


def _longest(problems_at: Callable[[str], list[str]]) -> int:
    """The most characters a name may have before `problems_at(name)` finds something (0 if even
    one character is too many): the limit follows from AWS's rules, not from a number here."""
    n = 0
    while n < 256 and not problems_at("a" * (n + 1)):
        n += 1
    return n


@functools.lru_cache(maxsize=1)
def max_cluster_name_length() -> int:
    """The longest cluster name whose derived names all pass AWS's rules (aws_rules)."""
    return _longest(_derived_name_problems)


def _node_group_name_problems(cluster: str, group: str) -> list[str]:
    value = aws_names.node_group_prefix(cluster, group) + aws_rules.names.PREFIX_SUFFIX
    return [
        f"breaks {rule}: {problem}"
        for rule, problem in aws_rules.problems(
            "eks:index:ManagedNodeGroup", "nodeGroupName", value
        )
    ]


def _check_node_group_name(cluster: str, group: str) -> list[str]:
    """The EKS node group name made from the cluster and group names (plus the provider's
    26-character suffix) must stay valid; a bad cluster name is reported under its own key."""
    if _derived_name_problems(cluster):
        return []
    found = _node_group_name_problems(cluster, group)
    if not found:
        return []
    longest = _longest(lambda g: _node_group_name_problems(cluster, g))
    return [
        f"{_key('nodeGroups', group)}: the EKS node group name "
        f"{aws_names.node_group_prefix(cluster, group)!r} + 26 characters {found[0]}; with "
        f"cluster name {cluster!r} a node group name may have at most {longest} characters"
    ]


def _check_cluster_name(name: str) -> list[str]:
    found = _derived_name_problems(name)
    if not found:
        return []
    return [
        f"{_key('cluster', 'name')} = {name!r}: allowed {CLUSTER_NAME_CHARS}, at most "
        f"{max_cluster_name_length()} characters, so that every AWS name made from it stays "
        f"valid; here {found[0]}"
    ]


def _check_cluster(c: ClusterConfig) -> list[str]:
    issues = _check_cluster_name(c.name)
    if not isinstance(c.kubernetes_version, str):
        issues.append(
            f"{_key('cluster', 'kubernetesVersion')} = {c.kubernetes_version!r}: write "
            f'it as a quoted string such as "{versions.KUBERNETES_DEFAULT}" (YAML reads '
            "1.30 as the number 1.3)"
        )
    elif c.kubernetes_version not in versions.KUBERNETES_VERSIONS:
        issues.append(
            f"{_key('cluster', 'kubernetesVersion')} = {c.kubernetes_version!r}: "
            f"EKS supports {', '.join(versions.KUBERNETES_VERSIONS)} (quote it in YAML)"
        )
    ep = c.endpoint
    if ep.public and not ep.public_access_cidrs:
        issues.append(
            f"{_key('cluster', 'endpoint', 'publicAccessCidrs')} = []: a public endpoint "
            "needs the CIDRs allowed to reach it, e.g. your office or VPN range"
        )
    if not ep.public and ep.public_access_cidrs:
        issues.append(
            f"{_key('cluster', 'endpoint', 'publicAccessCidrs')} = "
            f"{[str(n) for n in ep.public_access_cidrs]}: only allowed with "
            "endpoint.public: true"
        )
    for i, net in enumerate(ep.public_access_cidrs):
        if net.prefixlen == 0 and not ep.allow_public_from_anywhere:
            issues.append(
                f"{_key('cluster', 'endpoint', 'publicAccessCidrs')}[{i}] = '{net}': "
                "opens the API server to the whole internet; list narrower CIDRs, or "
                "set endpoint.allowPublicFromAnywhere: true to accept that"
            )
    for i, arn in enumerate(c.admin_principals):
        if not re.match(IAM_PRINCIPAL, arn):
            issues.append(
                f"{_key('cluster', 'adminPrincipals')}[{i}] = {arn!r}: expected an IAM "
                "role or user ARN, arn:aws:iam::<12-digit account>:role/<name>"
            )
    missing = [t for t in REQUIRED_LOG_TYPES if t not in c.log_types]
    if missing:
        # The pack's eks-control-plane-logging rule demands these: refuse here, under the key.
        issues.append(
            f"{_key('cluster', 'logTypes')} = {c.log_types}: must include "
            f"{', '.join(REQUIRED_LOG_TYPES)} (the policy pack requires them for "
            f"auditing); missing {', '.join(missing)}"
        )
    if c.log_retention_days not in LOG_RETENTION_DAYS:
        issues.append(
            f"{_key('cluster', 'logRetentionDays')} = {c.log_retention_days}: "
            f"CloudWatch allows {', '.join(map(str, LOG_RETENTION_DAYS))}"
        )
    return issues


def _check_network(n: NetworkConfig, region: str) -> list[str]:
    issues = []
    if not 16 <= n.cidr.prefixlen <= 20:
        issues.append(
            f"{_key('network', 'cidr')} = '{n.cidr}': use a /16 to /20 block (pods take "
            "VPC addresses, so subnets must be large)"
        )
    if not n.cidr.is_private:
        issues.append(f"{_key('network', 'cidr')} = '{n.cidr}': must be a private (RFC 1918) range")
    zones = catalog.REGION_ZONES.get(region)
    if zones is None:
        issues.append(
            f"aws:region = {region!r}: unknown region; known: "
            f"{', '.join(sorted(catalog.REGION_ZONES))}"
        )
    elif not 2 <= n.az_count <= len(zones):
        issues.append(
            f"{_key('network', 'azCount')} = {n.az_count}: {region} has {len(zones)} "
            f"zones and EKS needs at least 2; allowed 2..{len(zones)}"
        )
    elif n.efa_zone is not None and n.efa_zone not in zones[: n.az_count]:
        issues.append(
            f"{_key('network', 'efaZone')} = {n.efa_zone!r}: not one of the stack's "
            f"zones; allowed {', '.join(zones[: n.az_count])}"
        )
    return issues


def _check_instance_types(path: str, types: list[str], *, gpu: bool, efa: bool) -> list[str]:
    issues = []
    for i, t in enumerate(types):
        where = f"{path}[{i}] = {t!r}"
        if t not in catalog.ec2_instance_types():
            family = t.split(".")[0]
            near = sorted(x for x in catalog.ec2_instance_types() if x.startswith(family + "."))
            hint = f"; {family} sizes: {', '.join(near[:12])}" if near else ""
            issues.append(f"{where}: not an EC2 instance type{hint}")
        elif gpu and t not in catalog.GPU_INSTANCES:
            issues.append(
                f"{where}: has no NVIDIA GPU trainstack supports; GPU families: "
                f"{', '.join(catalog.GPU_FAMILIES)}"
            )
        elif not gpu and t in catalog.GPU_INSTANCES:
            issues.append(
                f"{where}: a GPU type in the system group would idle expensive GPUs; "
                "use a general-purpose type such as m6i.large"
            )
        elif efa and not catalog.GPU_INSTANCES[t].efa:
            efa_sizes = [i.name for i in catalog.family_instances(t.split(".")[0]) if i.efa]
            issues.append(
                f"{where}: has no EFA interface; with efa: true use one of {', '.join(efa_sizes)}"
            )
    return issues


def _check_labels(path: tuple, labels: dict[str, str]) -> list[str]:
    """Node labels from config: Kubernetes syntax, no reserved domain, none of the stack's keys."""
    where = _key(*path, "labels")
    issues = []
    for k, v in labels.items():
        problem = k8s_names.qualified_name(k)
        if problem:
            issues.append(f"{where}: {k!r}: not a Kubernetes label key: {problem}")
            continue
        reserved = next((d for d in RESERVED_LABEL_DOMAINS if k8s_names.in_domain(k, d)), None)
        if reserved:
            issues.append(
                f"{where}: {k!r}: the {reserved!r} domain is "
                f"{RESERVED_LABEL_DOMAINS[reserved]}; use your own prefix, e.g. "
                f"'example.com/{k.rpartition('/')[2]}'"
            )
        elif k in STACK_LABELS:
            issues.append(
                f"{where}: {k!r}: one of the stack's own node labels "
                f"({', '.join(STACK_LABELS)}), which jobs and device plugins select on; "
                "the stack sets it, choose another key"
            )
        elif problem := k8s_names.label_value(v):
            issues.append(f"{where}: {k!r} = {v!r}: not a Kubernetes label value: {problem}")
    return issues


def _check_jobs_namespace(ns: str) -> list[str]:
    where = f"{_key('jobsNamespace')} = {ns!r}"
    if problem := k8s_names.dns1123_label(ns):
        return [f"{where}: {problem}"]
    if ns in SYSTEM_NAMESPACES or ns.startswith("kube-"):
        return [
            f"{where}: a Kubernetes system namespace (kube-* and default are the cluster's); "
            "use a namespace of its own, e.g. 'training'"
        ]
    if ns in ADDON_NAMESPACES:
        return [
            f"{where}: {ADDON_NAMESPACES[ns]} runs there; use a namespace of its own, e.g. "
            "'training'"
        ]
    return []


def _check_node_group(name: str, g: NodeGroupConfig) -> list[str]:
    path = ("nodeGroups", name)
    issues = []
    if not re.match(DNS_LABEL, name):
        issues.append(
            f"{_key(*path)}: name {name!r} must be a DNS label (lowercase letters, "
            "digits, '-'; at most 63)"
        )
    if g.max_size < 1:
        issues.append(f"{_key(*path, 'maxSize')} = {g.max_size}: must be at least 1")
    if g.min_size > g.max_size:
        issues.append(
            f"{_key(*path, 'minSize')} = {g.min_size}: above maxSize {g.max_size}; "
            "allowed minSize <= desiredSize <= maxSize"
        )
    if g.desired_size is not None and not g.min_size <= g.desired_size <= g.max_size:
        issues.append(
            f"{_key(*path, 'desiredSize')} = {g.desired_size}: outside "
            f"minSize {g.min_size} .. maxSize {g.max_size}; allowed minSize <= "
            "desiredSize <= maxSize"
        )
    issues += _check_labels(path, g.labels)
    gpu = g.role == "gpu"
    issues += _check_instance_types(
        _key(*path, "instanceTypes"), g.instance_types, gpu=gpu, efa=g.efa and gpu
    )
    if not gpu:
        if g.capacity_type != "ON_DEMAND":
            issues.append(
                f"{_key(*path, 'capacityType')} = {g.capacity_type!r}: the system group "
                "runs Karpenter and CoreDNS and must be ON_DEMAND"
            )
        if g.efa:
            issues.append(f"{_key(*path, 'efa')} = true: EFA is for GPU groups only")
        if g.min_size < 1:
            issues.append(
                f"{_key(*path, 'minSize')} = {g.min_size}: the system group must keep "
                "at least 1 node (2 for a highly available Karpenter)"
            )
    elif g.disk_size_gib < MIN_GPU_DISK_GIB:
        issues.append(
            f"{_key(*path, 'diskSizeGib')} = {g.disk_size_gib}: CUDA images need at "
            f"least {MIN_GPU_DISK_GIB} GiB"
        )
    return issues


def _check_node_pool(name: str, p: NodePoolConfig) -> list[str]:
    path = ("karpenter", "nodePools", name)
    issues = []
    if not re.match(DNS_LABEL, name):
        issues.append(
            f"{_key(*path)}: name {name!r} must be a DNS label (lowercase letters, "
            "digits, '-'; at most 63)"
        )
    issues += _check_labels(path, p.labels)
    if p.max_gpus is None:
        issues.append(
            f"{_key(*path, 'maxGpus')}: missing; a NodePool without a GPU limit can "
            "launch GPUs without bound; set the most GPUs it may run, e.g. 8"
        )
    if not p.instance_families and not p.instance_types:
        issues.append(f"{_key(*path)}: set instanceFamilies (e.g. [g5]) or instanceTypes")
    bad_families = [f for f in p.instance_families if f not in catalog.GPU_FAMILIES]
    for fam in bad_families:
        i = p.instance_families.index(fam)
        issues.append(
            f"{_key(*path, 'instanceFamilies')}[{i}] = {fam!r}: not a GPU family "
            f"trainstack supports; allowed: {', '.join(catalog.GPU_FAMILIES)}"
        )
    type_issues = _check_instance_types(
        _key(*path, "instanceTypes"), p.instance_types, gpu=True, efa=p.efa
    )
    issues += type_issues
    if not (type_issues or bad_families) and (p.instance_families or p.instance_types):
        allowed = p.allowed_instances()
        if not allowed:
            issues.append(
                f"{_key(*path, 'efa')} = true: none of the pool's instance types has "
                "EFA; add EFA sizes (8xlarge and up for g4dn/g5/g6)"
            )
        elif p.max_gpus is not None and p.max_gpus < min(i.gpus for i in allowed):
            issues.append(
                f"{_key(*path, 'maxGpus')} = {p.max_gpus}: below the "
                f"{min(i.gpus for i in allowed)} GPUs of the smallest instance the pool "
                "allows, so it could never launch a node"
            )
    if (
        re.match(DURATION, p.consolidate_after)
        and _seconds(p.consolidate_after) < MIN_CONSOLIDATE_AFTER_S
    ):
        issues.append(
            f"{_key(*path, 'consolidateAfter')} = {p.consolidate_after!r}: shorter than "
            "a CUDA image pull; a node could be reclaimed before its job starts; use "
            "5m or more"
        )
    return issues


def _check_karpenter(k: KarpenterConfig) -> list[str]:
    issues = []
    if not re.match(r"^al2023@v\d{8}$", k.ami_alias):
        issues.append(
            f"{_key('karpenter', 'amiAlias')} = {k.ami_alias!r}: pin an AL2023 release "
            f"like {versions.KARPENTER_AMI_ALIAS!r}; '@latest' replaces every node at "
            "each AMI release"
        )
    if not k.chart_version.startswith("1."):
        issues.append(
            f"{_key('karpenter', 'chartVersion')} = {k.chart_version!r}: the v1 APIs need chart 1.x"
        )
    for name, pool in k.node_pools.items():
        issues += _check_node_pool(name, pool)
    return issues


def _check_platform(cfg: PlatformConfig) -> list[str]:
    issues = _check_cluster(cfg.cluster) + _check_network(cfg.network, cfg.region)
    issues += _check_jobs_namespace(cfg.jobs_namespace)
    for name, group in cfg.node_groups.items():
        issues += _check_node_group(name, group)
        issues += _check_node_group_name(cfg.cluster.name, name)
    systems = [n for n, g in cfg.node_groups.items() if g.role == "system"]
    if len(systems) != 1:
        issues.append(
            f"{_key('nodeGroups')}: needs exactly one group with role: system (found "
            f"{len(systems)}: {systems}); it runs Karpenter, CoreDNS and the operators"
        )
    if cfg.karpenter.enabled:
        issues += _check_karpenter(cfg.karpenter)
        for name in sorted(set(cfg.node_groups) & set(cfg.karpenter.node_pools)):
            issues.append(
                f"{_key('karpenter', 'nodePools', name)}: name {name!r} is also a node "
                "group; pool names must be unique across nodeGroups and "
                "karpenter.nodePools (jobs select a pool by name)"
            )
    if not issues:  # job checks need pools that are themselves valid
        addons = cfg.addons
        issues += check_workloads(
            image=cfg.image,
            volumes=cfg.volumes,
            jobs=cfg.training_jobs,
            dev_pod=cfg.dev_pod,
            pools=cfg.pools(),
            secrets=cfg.secrets_set,
            operators={
                "trainingOperator": addons.training_operator.enabled,
                "kuberay": addons.kuberay.enabled,
            },
        )
    return issues


# ------------------------------------------------------------------------------------- loading


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed at the mapping that holds `loc[-1]`, for 'unknown key' messages."""
    for part in loc[:-1]:
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            continue  # a dict key (pool name): stay on the value model
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        nested = args[-1] if args else ann
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            model = nested
    return [f.alias or n for n, f in model.model_fields.items() if not f.exclude]


def _format(err: dict[str, Any]) -> str:
    loc = err["loc"]
    path = _key(*loc)
    path = re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", path)
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(PlatformConfig, loc)
        return f"{path}: unknown key; allowed here: {', '.join(allowed)}"
    if err["type"] == "missing":
        return f"{path}: missing; this key is required"
    if loc and loc[0] in SECRET_KEYS:
        return f"{path}: {err['msg']} (value not shown: it is a secret)"
    return f"{path} = {err.get('input')!r}: {err['msg']}"


def _parts_that_parse(data: dict[str, Any], region: str) -> list[str]:
    """Checks of the sections that parse on their own, so one typo does not hide the rest."""

    def parsed(model: type[_Model], value: Any) -> Any:
        try:
            return model.model_validate(value)
        except ValidationError:
            return None

    issues = []
    if (cluster := parsed(ClusterConfig, data.get("cluster"))) is not None:
        issues += _check_cluster(cluster)
    if (network := parsed(NetworkConfig, data.get("network", {}))) is not None:
        issues += _check_network(network, region)
    if isinstance(data.get("jobsNamespace"), str):
        issues += _check_jobs_namespace(data["jobsNamespace"])
    for name, group in (data.get("nodeGroups") or {}).items():
        if (g := parsed(NodeGroupConfig, group)) is not None:
            issues += _check_node_group(name, g)
            if cluster is not None:
                issues += _check_node_group_name(cluster.name, name)
    karpenter = data.get("karpenter") or {}
    if isinstance(karpenter, dict) and karpenter.get("enabled", True):
        for name, pool in (karpenter.get("nodePools") or {}).items():
            if (p := parsed(NodePoolConfig, pool)) is not None:
                issues += _check_node_pool(name, p)
    return issues


def parse(data: dict[str, Any], region: str = "us-west-2") -> PlatformConfig:
    """Validate the `trainstack:*` config mapping (keys without the namespace) for `region`."""
    try:
        cfg = PlatformConfig.model_validate({**data, "region": region})
    except ValidationError as exc:
        issues = [_format(e) for e in exc.errors()]
        try:
            issues += _parts_that_parse(data, region)
        except (TypeError, AttributeError):
            pass  # a section is not even a mapping: its type error above says so
        raise ConfigError(list(dict.fromkeys(issues))) from None
    issues = _check_platform(cfg)
    if issues:
        raise ConfigError(issues)
    return cfg


def parse_pulumi_config(raw: dict[str, Any]) -> PlatformConfig:
    """Validate config in the engine's flat shape: {"trainstack:cluster": "<json>", ...}."""
    import json

    data: dict[str, Any] = {}
    for full_key, value in raw.items():
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT:
            continue
        try:
            data[key] = json.loads(value)
        except ValueError:
            data[key] = value
    return parse(data, raw.get("aws:region") or "us-west-2")


def load() -> PlatformConfig:
    """Read and validate this stack's config from the running Pulumi program."""
    from pulumi.runtime import config as runtime_config

    # The language host passes config as PULUMI_CONFIG; the mock engine sets it in-process.
    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    plain = [
        k
        for k in SECRET_KEYS
        if f"{PROJECT}:{k}" in raw and not runtime_config.is_config_secret(f"{PROJECT}:{k}")
    ]
    if plain:
        raise ConfigError(
            [
                f"{_key(k)}: stored in plain text in the stack file; run `pulumi config "
                f"rm {_key(k)}` and set it again with `pulumi config set --secret "
                f"{_key(k)} ...`"
                for k in plain
            ]
        )
    return parse_pulumi_config(raw)
