"""What fits on a pool's node: Kubernetes quantities, the pod size a job or the dev pod gets on
the smallest instance with enough GPUs, and the checks that a request fits there.

Jobs and the dev pod share these, so a request config accepts is one the renderer can place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .base import key
from .pools import PoolFacts

QUANTITY = r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$"  # (number)(unit), gib reads both
CPU_QUANTITY = r"^\d+(\.\d+)?m?$"
# Kept for the kubelet, the CNI, kube-proxy and the device plugins on every GPU node.
RESERVED_CPU_FRACTION = 0.25
RESERVED_MEMORY_FRACTION = 0.25


@dataclass(frozen=True)
class PodSize:
    gpus: int
    efa: int
    cpu: str
    memory: str
    shm: str


def gib(quantity: str) -> float:
    m = re.match(QUANTITY, quantity)
    if m is None:
        raise ValueError(quantity)
    scale = {
        None: 2**-30,
        "Ki": 2**-20,
        "Mi": 2**-10,
        "Gi": 1,
        "Ti": 2**10,
        "k": 1e3 / 2**30,
        "M": 1e6 / 2**30,
        "G": 1e9 / 2**30,
        "T": 1e12 / 2**30,
    }
    return float(m.group(1)) * scale[m.group(2)]


def cpus(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def pod_size(
    pool: PoolFacts,
    gpus: int,
    *,
    efa: bool,
    cpu: str | None = None,
    memory: str | None = None,
    shm: str | None = None,
) -> PodSize:
    """Requests that fit the smallest instance with `gpus` GPUs, leaving room for node agents;
    /dev/shm a quarter of the memory (NCCL and DataLoader workers use it), counted in it."""
    inst = pool.smallest_fitting(max(gpus, 1))
    assert inst is not None, "checked by check_pool_fit"
    cpu = cpu or str(max(1, int(inst.vcpus * (1 - RESERVED_CPU_FRACTION))))
    mem_gib = int(inst.memory_gib * (1 - RESERVED_MEMORY_FRACTION))
    memory = memory or f"{mem_gib}Gi"
    shm = shm or f"{max(1, int(gib(memory) / 4))}Gi"
    return PodSize(
        gpus=gpus, efa=inst.efa_interfaces if efa else 0, cpu=cpu, memory=memory, shm=shm
    )


def check_resources(
    path: tuple,
    pool: PoolFacts,
    gpus: int,
    cpu: str | None,
    memory: str | None,
    shm: str | None = None,
) -> list[str]:
    inst = pool.smallest_fitting(max(gpus, 1))
    if inst is None:
        return []
    issues = []
    if cpu is not None and cpus(cpu) > inst.vcpus - 0.5:
        issues.append(
            f"{key(*path, 'cpu')} = {cpu!r}: {inst.name} has {inst.vcpus} vCPUs and "
            "the node agents need some; ask for at most "
            f"{int(inst.vcpus * (1 - RESERVED_CPU_FRACTION))}"
        )
    if memory is not None and gib(memory) > inst.memory_gib * 0.9:
        issues.append(
            f"{key(*path, 'memory')} = {memory!r}: {inst.name} has "
            f"{inst.memory_gib} GiB; ask for at most "
            f"{int(inst.memory_gib * (1 - RESERVED_MEMORY_FRACTION))}Gi"
        )
    limit = gib(memory) if memory else inst.memory_gib * (1 - RESERVED_MEMORY_FRACTION)
    if shm is not None and gib(shm) > limit / 2:
        issues.append(
            f"{key(*path, 'shmSize')} = {shm!r}: /dev/shm counts against the pod's "
            f"memory ({limit:.0f}Gi); keep it at most half of that"
        )
    return issues


def check_pool_fit(path: tuple, pool: PoolFacts, gpus: int) -> list[str]:
    if gpus > pool.max_gpus_per_node:
        types = ", ".join(f"{i.name} ({i.gpus})" for i in pool.instances)
        return [
            f"{key(*path)} = {gpus}: pool {pool.name!r} has at most "
            f"{pool.max_gpus_per_node} GPUs per node ({types}); lower it or use a pool of "
            "larger instances"
        ]
    return []
