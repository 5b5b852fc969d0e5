"""The GPU/EFA table and the zone table agree with AWS's own answers, as recorded by moto."""

import gzip
import json
from pathlib import Path

import moto
import pytest

from components import catalog

RESOURCES = Path(moto.__file__).parent / "ec2" / "resources"


@pytest.fixture(scope="module")
def described() -> dict:
    """DescribeInstanceTypes answers recorded from AWS (moto's snapshot)."""
    return json.load(gzip.open(RESOURCES / "instance_types.json.gz"))


def test_gpu_table_matches_describe_instance_types(described):
    for name, inst in catalog.GPU_INSTANCES.items():
        d = described[name]
        gpu = d["GpuInfo"]["Gpus"][0]
        assert (inst.gpus, inst.gpu_model) == (gpu["Count"], gpu["Name"]), name
        assert inst.vcpus == d["VCpuInfo"]["DefaultVCpus"], name
        assert inst.memory_gib == d["MemoryInfo"]["SizeInMiB"] // 1024, name
        efa = d["NetworkInfo"].get("EfaInfo", {}).get("MaximumEfaInterfaces", 0)
        assert inst.efa_interfaces == efa and inst.efa == d["NetworkInfo"]["EfaSupported"], name


def test_every_size_of_a_supported_family_is_in_the_table(described):
    for family in catalog.GPU_FAMILIES:
        sizes = {n for n in described if n.split(".")[0] == family}
        assert sizes == {i.name for i in catalog.family_instances(family)}, family


def test_reference_facts_hold():
    # docs/upstream-facts.md: EFA only on g4dn.8xlarge+ and g5.8xlarge+; g5.12xlarge has 4 A10G.
    assert [i.name for i in catalog.family_instances("g5") if i.efa] == [
        "g5.8xlarge",
        "g5.12xlarge",
        "g5.16xlarge",
        "g5.24xlarge",
        "g5.48xlarge",
    ]
    assert [i.name for i in catalog.family_instances("g4dn") if i.efa] == [
        "g4dn.8xlarge",
        "g4dn.12xlarge",
        "g4dn.16xlarge",
        "g4dn.metal",
    ]
    assert catalog.GPU_INSTANCES["g5.12xlarge"].gpus == 4


def test_gpu_types_are_ec2_types_and_typos_are_not():
    assert set(catalog.GPU_INSTANCES) <= catalog.ec2_instance_types()
    assert "g5.xlarg" not in catalog.ec2_instance_types()


def test_zone_table_matches_instance_type_offerings():
    folder = RESOURCES / "instance_type_offerings" / "availability-zone"
    for region, zones in catalog.REGION_ZONES.items():
        offered = json.load(gzip.open(folder / f"{region}.json.gz"))
        assert zones == tuple(sorted({o["Location"] for o in offered})), region
