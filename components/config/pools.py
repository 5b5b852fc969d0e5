"""`trainstack:nodeGroups` and `trainstack:karpenter`: the managed node groups and Karpenter
NodePools, and `facts()`, the one place a pool's GPU facts are worked out.

Job checks, pod sizing, the plan summary, the cost estimate and the node renderers all read a
pool through `PoolFacts`, so "how many GPUs can this pool hold" has one answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from .. import catalog, versions
from .base import _Model, key
from .checks import dns_name, node_labels

DURATION = r"^(\d+h)?(\d+m)?(\d+s)?$"
# A CUDA training image is several GB: a node emptied for less than a pull must not be reclaimed.
MIN_CONSOLIDATE_AFTER_S = 300
MIN_GPU_DISK_GIB = 100


@dataclass(frozen=True)
class PoolFacts:
    """What the rest of the stack needs to know of a pool (a node group or a NodePool)."""

    name: str
    karpenter: bool
    # The GPU instance types it may launch (EFA-capable ones only, for a NodePool with efa).
    instances: tuple[catalog.GpuInstance, ...]
    max_nodes: int | None
    # A node group: maxSize x its largest GPU count; a NodePool: maxGpus (its NodePool limit).
    max_gpus: int | None
    efa: bool
    spot: bool

    @property
    def max_gpus_per_node(self) -> int:
        return max((i.gpus for i in self.instances), default=0)

    def gpus_of(self, instance_type: str) -> int:
        """GPUs of one of the pool's instance types (0 for a type without a supported GPU)."""
        return next((i.gpus for i in self.instances if i.name == instance_type), 0)

    def smallest_fitting(self, gpus: int) -> catalog.GpuInstance | None:
        """The instance a pod must fit on: the smallest the pool may launch with enough GPUs."""
        fits = [i for i in self.instances if i.gpus >= gpus]
        return min(fits, key=lambda i: (i.gpus, i.vcpus, i.memory_gib), default=None)


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

    def facts(self, name: str) -> PoolFacts:
        instances = tuple(
            catalog.GPU_INSTANCES[t] for t in self.instance_types if t in catalog.GPU_INSTANCES
        )
        most = max((i.gpus for i in instances), default=0)
        return PoolFacts(
            name=name,
            karpenter=False,
            instances=instances,
            max_nodes=self.max_size,
            max_gpus=self.max_size * most,
            efa=self.efa,
            spot=self.capacity_type == "SPOT",
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

    def facts(self, name: str) -> PoolFacts:
        if self.instance_types:
            found = [
                catalog.GPU_INSTANCES[t] for t in self.instance_types if t in catalog.GPU_INSTANCES
            ]
        else:
            found = [i for f in self.instance_families for i in catalog.family_instances(f)]
        return PoolFacts(
            name=name,
            karpenter=True,
            # An EFA pool launches EFA-capable sizes only (components/karpenter.py lists them).
            instances=tuple(i for i in found if i.efa or not self.efa),
            max_nodes=self.max_nodes,
            max_gpus=self.max_gpus,
            efa=self.efa,
            spot="spot" in self.capacity_types,
        )


class KarpenterConfig(_Model):
    enabled: bool = True
    chart_version: str = Field(default=versions.KARPENTER_VERSION, pattern=r"^\d+\.\d+\.\d+$")
    ami_alias: str = versions.KARPENTER_AMI_ALIAS
    node_pools: dict[str, NodePoolConfig] = {}
    # The EC2 Spot service-linked role must exist once per account for spot capacity; creating it
    # fails if it already exists, so it is opt-in.
    create_spot_service_linked_role: bool = False


def duration_seconds(duration: str) -> int:
    """Seconds of a DURATION such as "1h30m"."""
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", duration))


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


def check_node_group(name: str, g: NodeGroupConfig) -> list[str]:
    path = ("nodeGroups", name)
    issues = dns_name(path, name)
    if g.max_size < 1:
        issues.append(f"{key(*path, 'maxSize')} = {g.max_size}: must be at least 1")
    if g.min_size > g.max_size:
        issues.append(
            f"{key(*path, 'minSize')} = {g.min_size}: above maxSize {g.max_size}; "
            "allowed minSize <= desiredSize <= maxSize"
        )
    if g.desired_size is not None and not g.min_size <= g.desired_size <= g.max_size:
        issues.append(
            f"{key(*path, 'desiredSize')} = {g.desired_size}: outside "
            f"minSize {g.min_size} .. maxSize {g.max_size}; allowed minSize <= "
            "desiredSize <= maxSize"
        )
    issues += node_labels(path, g.labels)
    gpu = g.role == "gpu"
    issues += _check_instance_types(
        key(*path, "instanceTypes"), g.instance_types, gpu=gpu, efa=g.efa and gpu
    )
    if not gpu:
        if g.capacity_type != "ON_DEMAND":
            issues.append(
                f"{key(*path, 'capacityType')} = {g.capacity_type!r}: the system group "
                "runs Karpenter and CoreDNS and must be ON_DEMAND"
            )
        if g.efa:
            issues.append(f"{key(*path, 'efa')} = true: EFA is for GPU groups only")
        if g.min_size < 1:
            issues.append(
                f"{key(*path, 'minSize')} = {g.min_size}: the system group must keep "
                "at least 1 node (2 for a highly available Karpenter)"
            )
    elif g.disk_size_gib < MIN_GPU_DISK_GIB:
        issues.append(
            f"{key(*path, 'diskSizeGib')} = {g.disk_size_gib}: CUDA images need at "
            f"least {MIN_GPU_DISK_GIB} GiB"
        )
    return issues


def check_node_pool(name: str, p: NodePoolConfig) -> list[str]:
    path = ("karpenter", "nodePools", name)
    issues = dns_name(path, name)
    issues += node_labels(path, p.labels)
    if p.max_gpus is None:
        issues.append(
            f"{key(*path, 'maxGpus')}: missing; a NodePool without a GPU limit can "
            "launch GPUs without bound; set the most GPUs it may run, e.g. 8"
        )
    if not p.instance_families and not p.instance_types:
        issues.append(f"{key(*path)}: set instanceFamilies (e.g. [g5]) or instanceTypes")
    bad_families = [f for f in p.instance_families if f not in catalog.GPU_FAMILIES]
    for fam in bad_families:
        i = p.instance_families.index(fam)
        issues.append(
            f"{key(*path, 'instanceFamilies')}[{i}] = {fam!r}: not a GPU family "
            f"trainstack supports; allowed: {', '.join(catalog.GPU_FAMILIES)}"
        )
    type_issues = _check_instance_types(
        key(*path, "instanceTypes"), p.instance_types, gpu=True, efa=p.efa
    )
    issues += type_issues
    if not (type_issues or bad_families) and (p.instance_families or p.instance_types):
        allowed = p.facts(name).instances
        if not allowed:
            issues.append(
                f"{key(*path, 'efa')} = true: none of the pool's instance types has "
                "EFA; add EFA sizes (8xlarge and up for g4dn/g5/g6)"
            )
        elif p.max_gpus is not None and p.max_gpus < min(i.gpus for i in allowed):
            issues.append(
                f"{key(*path, 'maxGpus')} = {p.max_gpus}: below the "
                f"{min(i.gpus for i in allowed)} GPUs of the smallest instance the pool "
                "allows, so it could never launch a node"
            )
    if (
        re.match(DURATION, p.consolidate_after)
        and duration_seconds(p.consolidate_after) < MIN_CONSOLIDATE_AFTER_S
    ):
        issues.append(
            f"{key(*path, 'consolidateAfter')} = {p.consolidate_after!r}: shorter than "
            "a CUDA image pull; a node could be reclaimed before its job starts; use "
            "5m or more"
        )
    return issues


def check_karpenter(k: KarpenterConfig) -> list[str]:
    issues = []
    if not re.match(r"^al2023@v\d{8}$", k.ami_alias):
        issues.append(
            f"{key('karpenter', 'amiAlias')} = {k.ami_alias!r}: pin an AL2023 release "
            f"like {versions.KARPENTER_AMI_ALIAS!r}; '@latest' replaces every node at "
            "each AMI release"
        )
    if not k.chart_version.startswith("1."):
        issues.append(
            f"{key('karpenter', 'chartVersion')} = {k.chart_version!r}: the v1 APIs need chart 1.x"
        )
    for name, pool in k.node_pools.items():
        issues += check_node_pool(name, pool)
    return issues
