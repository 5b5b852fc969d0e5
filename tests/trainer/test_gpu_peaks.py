"""MFU on every GPU the catalog offers: the peak comes from the row of the exact CUDA device name
(trainer/gpu_peaks.py), never from a name that merely contains another GPU's; a GPU without a
row is measured, and the source says so. Runs on CPU: the device name is stubbed."""

from __future__ import annotations

import pytest
import torch

from components import catalog
from trainer import gpu_peaks, metrics
from trainer.config_sections import ParallelConfig
from trainer.parallelize import uses_bf16

GPU = torch.device("cuda", 0)

# The name torch.cuda.get_device_name() returns on each catalog GPU, by (catalog model, GiB per
# GPU as the catalog records it). Where each was seen: trainer/gpu_peaks.py's DEVICE_NAMES.
REPORTED = {
    ("H100", 80): "NVIDIA H100 80GB HBM3",  # p5: the SXM part
    ("H200", 141): "NVIDIA H200",
    ("A100", 40): "NVIDIA A100-SXM4-40GB",  # p4d
    ("A100", 80): "NVIDIA A100-SXM4-80GB",  # p4de
    ("A10G", 22): "NVIDIA A10G",
    ("L4", 22): "NVIDIA L4",
    ("L40S", 44): "NVIDIA L40S",
    ("T4", 16): "Tesla T4",
}


def never(*a, **k):
    raise AssertionError("measured, though the GPU has a row")


@pytest.fixture
def named(monkeypatch):
    """Make the (CPU-only) test machine's cuda:0 report a given name; measuring fails."""
    monkeypatch.setattr(metrics, "cached_peak_tflops", never)
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)

    def name(device_name: str) -> None:
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: device_name)

    return name


@pytest.mark.parametrize(
    "device_name, model, bf16, fp32",
    [
        ("NVIDIA H100 80GB HBM3", "H100", 989.5, 67.0),
        ("NVIDIA H100 PCIe", "H100 PCIe", 756.5, 51.0),  # a substring match gave it the SXM's
        ("NVIDIA H200", "H200", 989.5, 67.0),  # matched nothing before: measured
        ("NVIDIA A100-SXM4-40GB", "A100", 312.0, 19.5),
        ("NVIDIA A100-SXM4-80GB", "A100", 312.0, 19.5),
        ("NVIDIA A10G", "A10G", 70.0, 35.0),  # not the A10's 125
        ("NVIDIA L4", "L4", 121.0, 30.3),
        ("NVIDIA L40S", "L40S", 362.05, 91.6),  # "L4" is a substring of it: read as an L4 before
    ],
)
def test_each_gpu_gets_its_own_dense_row(named, device_name, model, bf16, fp32):
    named(device_name)
    assert metrics.peak_tflops(GPU, None, bf16=True) == (bf16, f"{model} bf16 " + _kind(model))
    assert metrics.peak_tflops(GPU, None, bf16=False) == (fp32, f"{model} fp32 " + _kind(model))


def _kind(model: str) -> str:
    return "derived figure" if gpu_peaks.PEAKS[model].derived else "datasheet"


def test_an_l40s_is_not_an_l4(named):
    named("NVIDIA L40S")
    peak, source = metrics.peak_tflops(GPU, None, bf16=True)
    assert source.startswith("L40S ") and peak == pytest.approx(3 * 121.0, rel=0.01)


@pytest.mark.parametrize(
    "device_name",
    [
        "NVIDIA L40",  # holds "L4"
        "NVIDIA A10",  # the A10 is not the A10G
        "NVIDIA A100-SXM4-40GB MIG 1g.5gb",  # a MIG slice: a seventh of the SMs
        "NVIDIA H100 NVL",  # holds "H100"; not in the catalog
        "NVIDIA GeForce RTX 4090",
    ],
)
def test_a_name_that_only_contains_a_known_one_is_measured(monkeypatch, device_name):
    assert gpu_peaks.lookup(device_name) is None
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: device_name)
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)
    asked = []

    def measure(device, dtype):
        asked.append(dtype)
        return 42.0, "measured bfloat16 matmul, cached /x"

    monkeypatch.setattr(metrics, "cached_peak_tflops", measure)
    peak, source = metrics.peak_tflops(GPU, None, bf16=True)
    assert (peak, asked) == (42.0, [torch.bfloat16]) and metrics.is_measured(source)


def test_an_unknown_gpu_running_fp32_is_measured_in_fp32(monkeypatch):
    """A GPU without bf16 tensor cores computes in fp32; a bf16 matmul there is emulated, slow,
    and would make a tiny denominator."""
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: "Tesla V100-SXM2-16GB")
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)
    asked = []
    monkeypatch.setattr(
        metrics, "cached_peak_tflops", lambda d, dtype: asked.append(dtype) or (1.0, "measured")
    )
    metrics.peak_tflops(GPU, None, bf16=False)
    assert asked == [torch.float32]


def test_every_catalog_gpu_has_a_row():
    models = {i.gpu_model for i in catalog.GPU_INSTANCES.values()}
    assert models <= set(gpu_peaks.PEAKS), models - set(gpu_peaks.PEAKS)


@pytest.mark.parametrize("instance", sorted(catalog.GPU_INSTANCES))
def test_every_catalog_instance_reads_its_own_row(named, instance):
    gpu = catalog.GPU_INSTANCES[instance]
    key = (gpu.gpu_model, gpu.gpu_memory_gib)
    assert key in REPORTED, f"{instance}: which name does its {key} report? add it to REPORTED"
    named(REPORTED[key])
    row = gpu_peaks.PEAKS[gpu.gpu_model]
    assert metrics.peak_tflops(GPU, None, bf16=True) == (row.tensor, row.describe(True))


def test_every_listed_name_has_a_row_and_every_row_a_source():
    assert set(gpu_peaks.DEVICE_NAMES.values()) <= set(gpu_peaks.PEAKS)
    for row in gpu_peaks.PEAKS.values():
        assert row.source and row.tensor > row.fp32 > 0, row
        assert ("derived" in row.source) == row.derived, row


def test_the_a10g_figure_says_it_is_derived(named):
    named("NVIDIA A10G")
    peak, source = metrics.peak_tflops(GPU, None, bf16=True)
    assert peak == 70.0 and "derived" in source


def test_t4_rows_fp16_for_half_precision_fp32_for_the_trainers_runs(named, monkeypatch):
    named("Tesla T4")
    assert metrics.peak_tflops(GPU, None, bf16=True) == (65.0, "T4 fp16 datasheet")
    assert metrics.peak_tflops(GPU, None, bf16=False) == (8.1, "T4 fp32 datasheet")
    # The trainer refuses bf16 on a T4 (sm_75) and runs fp32 there, so its MFU is against 8.1.
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (7, 5))
    bf16 = uses_bf16(ParallelConfig(), GPU)
    assert metrics.peak_tflops(GPU, None, bf16)[0] == 8.1


def test_an_override_wins_over_the_row(named):
    named("NVIDIA L40S")
    assert metrics.peak_tflops(GPU, 100.0, bf16=True) == (100.0, "metrics.peak_tflops")
