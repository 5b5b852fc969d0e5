"""What AWS offers: EC2 instance types, their GPUs and EFA interfaces, and each region's zones.

The instance-type list comes from botocore's EC2 service model (the API's own enum), so a typo is
caught without credentials. GPU and EFA facts are not in that model; the table below records
DescribeInstanceTypes answers for the GPU families trainstack supports (tests cross-check it
against a recorded DescribeInstanceTypes snapshot).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import botocore.session


@dataclass(frozen=True)
class GpuInstance:
    name: str
    gpus: int
    gpu_model: str
    gpu_memory_gib: int
    vcpus: int
    memory_gib: int
    efa_interfaces: int  # 0: no EFA on this size

    @property
    def family(self) -> str:
        return self.name.split(".")[0]

    @property
    def efa(self) -> bool:
        return self.efa_interfaces > 0

    @property
    def bf16(self) -> bool:
        """bf16 tensor cores (sm_80+), where the trainer's parallel.mixed_precision=auto computes
        in bf16 (trainer/parallelize.py native_bf16); the T4 (sm_75) trains in fp32."""
        return self.gpu_model not in NO_BF16_GPUS


# GPUs before Ampere: no bf16 tensor cores.
NO_BF16_GPUS = frozenset({"T4"})


def _table(rows: dict[str, tuple]) -> dict[str, GpuInstance]:
    return {name: GpuInstance(name, *row) for name, row in rows.items()}


# name: (GPUs, GPU, GiB per GPU, vCPUs, memory GiB, max EFA interfaces)
GPU_INSTANCES: dict[str, GpuInstance] = _table(
    {
        "g4dn.xlarge": (1, "T4", 16, 4, 16, 0),
        "g4dn.2xlarge": (1, "T4", 16, 8, 32, 0),
        "g4dn.4xlarge": (1, "T4", 16, 16, 64, 0),
        "g4dn.8xlarge": (1, "T4", 16, 32, 128, 1),
        "g4dn.12xlarge": (4, "T4", 16, 48, 192, 1),
        "g4dn.16xlarge": (1, "T4", 16, 64, 256, 1),
        "g4dn.metal": (8, "T4", 16, 96, 384, 1),
        "g5.xlarge": (1, "A10G", 22, 4, 16, 0),
        "g5.2xlarge": (1, "A10G", 22, 8, 32, 0),
        "g5.4xlarge": (1, "A10G", 22, 16, 64, 0),
        "g5.8xlarge": (1, "A10G", 22, 32, 128, 1),
        "g5.12xlarge": (4, "A10G", 22, 48, 192, 1),
        "g5.16xlarge": (1, "A10G", 22, 64, 256, 1),
        "g5.24xlarge": (4, "A10G", 22, 96, 384, 1),
        "g5.48xlarge": (8, "A10G", 22, 192, 768, 1),
        "g6.xlarge": (1, "L4", 22, 4, 16, 0),
        "g6.2xlarge": (1, "L4", 22, 8, 32, 0),
        "g6.4xlarge": (1, "L4", 22, 16, 64, 0),
        "g6.8xlarge": (1, "L4", 22, 32, 128, 1),
        "g6.12xlarge": (4, "L4", 22, 48, 192, 1),
        "g6.16xlarge": (1, "L4", 22, 64, 256, 1),
        "g6.24xlarge": (4, "L4", 22, 96, 384, 1),
        "g6.48xlarge": (8, "L4", 22, 192, 768, 1),
        "g6e.xlarge": (1, "L40S", 44, 4, 32, 0),
        "g6e.2xlarge": (1, "L40S", 44, 8, 64, 0),
        "g6e.4xlarge": (1, "L40S", 44, 16, 128, 0),
        "g6e.8xlarge": (1, "L40S", 44, 32, 256, 1),
        "g6e.12xlarge": (4, "L40S", 44, 48, 384, 1),
        "g6e.16xlarge": (1, "L40S", 44, 64, 512, 1),
        "g6e.24xlarge": (4, "L40S", 44, 96, 768, 2),
        "g6e.48xlarge": (8, "L40S", 44, 192, 1536, 4),
        "p4d.24xlarge": (8, "A100", 40, 96, 1152, 4),
        "p4de.24xlarge": (8, "A100", 80, 96, 1152, 4),
        "p5.4xlarge": (1, "H100", 80, 16, 256, 1),
        "p5.48xlarge": (8, "H100", 80, 192, 2048, 32),
        "p5e.48xlarge": (8, "H200", 141, 192, 2048, 32),
        "p5en.48xlarge": (8, "H200", 141, 192, 2048, 16),
    }
)

GPU_FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(i.family for i in GPU_INSTANCES.values()))

# Zone names per region, from DescribeInstanceTypeOfferings (location type availability-zone).
# Letters are not contiguous everywhere (ap-northeast-1 has no 1b), so names, not counts.
REGION_ZONES: dict[str, tuple[str, ...]] = {
    region: tuple(f"{region}{letter}" for letter in letters)
    for region, letters in {
        "af-south-1": "abc",
        "ap-east-1": "abc",
        "ap-northeast-1": "acd",
        "ap-northeast-2": "abcd",
        "ap-northeast-3": "abc",
        "ap-south-1": "abc",
        "ap-south-2": "abc",
        "ap-southeast-1": "abc",
        "ap-southeast-2": "abc",
        "ap-southeast-3": "abc",
        "ap-southeast-4": "abc",
        "ap-southeast-5": "abc",
        "ca-central-1": "abd",
        "ca-west-1": "abc",
        "eu-central-1": "abc",
        "eu-central-2": "abc",
        "eu-north-1": "abc",
        "eu-south-1": "abc",
        "eu-south-2": "abc",
        "eu-west-1": "abc",
        "eu-west-2": "abcd",
        "eu-west-3": "abc",
        "il-central-1": "abc",
        "me-central-1": "abc",
        "me-south-1": "abc",
        "sa-east-1": "abc",
        "us-east-1": "abcdef",
        "us-east-2": "abc",
        "us-west-1": "ab",
        "us-west-2": "abcd",
    }.items()
}


@functools.cache
def ec2_instance_types() -> frozenset[str]:
    """Every instance type name the EC2 API accepts, from botocore's bundled service model."""
    model = botocore.session.get_session().get_service_model("ec2")
    return frozenset(model.shape_for("InstanceType").enum)


def gpu_instance(name: str) -> GpuInstance | None:
    return GPU_INSTANCES.get(name)


def family_instances(family: str) -> list[GpuInstance]:
    return [i for i in GPU_INSTANCES.values() if i.family == family]
