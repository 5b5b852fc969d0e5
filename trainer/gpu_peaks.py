"""MFU's denominator on a GPU: each GPU's dense peak TFLOP/s, found by the exact name CUDA reports.

Exact, not by substring: "L4" is a substring of "NVIDIA L40S" (a g6e's GPU, three times an L4's
rate), "H100" of "NVIDIA H100 PCIe" (a quarter slower than the SXM part), and every name of a MIG
slice ("NVIDIA A100-SXM4-40GB MIG 1g.5gb") holds its parent's name while having a fraction of its
SMs. A name not listed here gets no figure, and metrics.py measures the device instead and says so.

Figures are dense. NVIDIA's datasheets print tensor-core rates "with sparsity" (2:4 structured
sparsity, which training does not use) beside or instead of the dense ones; where only the sparse
figure is printed the dense one is half of it. `tensor` is the rate of the precision the trainer
computes in on that GPU: bf16 with fp32 accumulation, or fp16 on a T4, which has no bf16 (the
trainer runs fp32 there, parallelize.native_bf16). `fp32` is the plain (non-tensor-core) fp32
rate: torch's default fp32 matmul precision ("highest") does not use TF32.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GpuPeak:
    model: str  # as components/catalog.py names the GPU of an instance type
    tensor: float  # dense tensor-core TFLOP/s in `tensor_dtype`
    tensor_dtype: str  # "bf16", or "fp16" on a GPU without bf16
    fp32: float  # dense non-tensor fp32 TFLOP/s
    source: str  # where the figures come from
    derived: bool = False  # True: worked out from the GPU's make-up, not printed by its vendor

    def tflops(self, bf16: bool) -> float:
        return self.tensor if bf16 else self.fp32

    def describe(self, bf16: bool) -> str:
        kind = self.tensor_dtype if bf16 else "fp32"
        return f"{self.model} {kind} {'derived figure' if self.derived else 'datasheet'}"


_H100_SHEET = "NVIDIA H100 Tensor Core GPU datasheet (resources.nvidia.com/en-us-tensor-core)"

PEAKS: dict[str, GpuPeak] = {
    p.model: p
    for p in (
        # 1,979 BF16 TFLOPS with sparsity; FP32 67.
        GpuPeak("H100", 989.5, "bf16", 67.0, f"{_H100_SHEET}, SXM column"),
        # 1,513 BF16 TFLOPS with sparsity; FP32 51.
        GpuPeak(
            "H100 PCIe",
            756.5,
            "bf16",
            51.0,
            f"{_H100_SHEET}, PCIe column (the editions listing the PCIe card)",
        ),
        # H200 SXM: 1,979 BF16 TFLOPS with sparsity; FP32 67.
        GpuPeak("H200", 989.5, "bf16", 67.0, "NVIDIA H200 specifications (nvidia.com/h200)"),
        # BF16 312 dense | 624 sparse; FP32 19.5 (the same for the 40 and 80 GB parts).
        GpuPeak(
            "A100",
            312.0,
            "bf16",
            19.5,
            "NVIDIA A100 datasheet (nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf)",
        ),
        # BF16 242 with sparsity; FP32 30.3.
        GpuPeak("L4", 121.0, "bf16", 30.3, "NVIDIA L4 datasheet (resources.nvidia.com)"),
        # BF16 362.05 dense | 733 sparse; FP32 91.6.
        GpuPeak("L40S", 362.05, "bf16", 91.6, "NVIDIA L40S datasheet (resources.nvidia.com)"),
        # Mixed precision (FP16/FP32) 65; single precision 8.1. Turing has no sparsity feature.
        GpuPeak(
            "T4",
            65.0,
            "fp16",
            8.1,
            "NVIDIA T4 datasheet (t4-tensor-core-datasheet-951643.pdf)",
        ),
        # No NVIDIA datasheet covers the A10G (AWS's own part); the A10's 125 BF16 TFLOPS is
        # another chip's. Derived: 80 SMs (AWS's G5 page: 320 third-generation tensor cores, 4 per
        # Ampere SM) x 1710 MHz boost (spec listings; not on a vendor sheet) x 512 dense bf16
        # FLOP/clock/SM with fp32 accumulation, the GA102 rate NVIDIA's GA102 whitepaper gives the
        # RTX 3090 (71 TFLOPS from 82 SMs at 1695 MHz) = 70.0. fp32: 80 x 1710 MHz x 256 = 35.0.
        # Cross-check: a torch bf16 matmul on an A10G reached 69.5 TFLOPS
        # (github.com/zzc0721/torch-performance-test-data/issues/126): 125 is out of reach.
        GpuPeak(
            "A10G",
            70.0,
            "bf16",
            35.0,
            "derived: 80 SMs x 1710 MHz x 512 FLOP/clock (GA102 whitepaper rate; AWS G5 page "
            "for the SM count)",
            derived=True,
        ),
    )
}

# torch.cuda.get_device_name() -> PEAKS key. Each name as the device reports it, with where it
# was seen reported (nvidia-smi prints the same string as "Product Name" / "name").
DEVICE_NAMES: dict[str, str] = {
    # p5: NVIDIA/nccl#1264 (nvidia-smi on HGX H100 SXM), vllm-project/vllm#6746 (collect_env).
    "NVIDIA H100 80GB HBM3": "H100",
    # zzc0721/torch-performance-test-data#95 (torch device name); karpathy/llm.c llmc/mfu.h.
    "NVIDIA H100 PCIe": "H100 PCIe",
    # p5e, p5en: NVIDIA/mig-parted#120 (nvidia-smi -q Product Name).
    "NVIDIA H200": "H200",
    # p4d: bottlerocket-os/bottlerocket-core-kit#834 (nvidia-smi), bottlerocket#3873 (deviceQuery).
    "NVIDIA A100-SXM4-40GB": "A100",
    # p4de: DataDog/datadog-agent#33120 (nvidia-smi -L), NVIDIA/CUDALibrarySamples#104.
    "NVIDIA A100-SXM4-80GB": "A100",
    # PCIe A100s (not in the catalog, same figures): karpathy/llm.c llmc/mfu.h, ekondis/mixbench#47.
    "NVIDIA A100-PCIE-40GB": "A100",
    "NVIDIA A100 80GB PCIe": "A100",
    # g5: NVIDIA/k8s-device-plugin#344 (nvidia-smi -q on EKS), NVIDIA/DCGM#232 (nvidia-smi).
    "NVIDIA A10G": "A10G",
    # g6: speaches-ai/speaches#438 (nvidia-smi).
    "NVIDIA L4": "L4",
    # g6e: akash-network/provider-configs#99 (nvidia-smi --query-gpu=name), isaac-sim/IsaacSim#228.
    "NVIDIA L40S": "L40S",
    # g4dn: NVIDIA/nvidia-docker#1628 (nvidia-smi -q), METR/vivaria#694.
    "Tesla T4": "T4",
}


def lookup(device_name: str) -> GpuPeak | None:
    """The peak row of the GPU CUDA calls `device_name`, or None for any other name."""
    model = DEVICE_NAMES.get(device_name)
    return PEAKS[model] if model else None
