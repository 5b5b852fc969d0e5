"""The torch, CUDA and driver facts the trainer image is checked against: data only, imported by
the preflight (which CodeBuild runs from the source bundle, so this file ships in it) and
re-exported by components/versions.py, the one place every other pin lives.
"""

# EKS AL2023 NVIDIA AMI: the 580-series driver runs CUDA builds up to 13.0.
NVIDIA_DRIVER_MAX_CUDA = "13.0"
# CUDA builds of each torch release on download.pytorch.org (stable and experimental), per the
# release compatibility matrix in pytorch/pytorch RELEASE.md; 2.12 dropped 12.8 and added 13.2.
TORCH_CUDA_BUILDS: dict[str, tuple[str, ...]] = {
    "2.12": ("12.6", "13.0", "13.2"),
    "2.13": ("12.6", "13.0", "13.2"),
    "2.14": ("12.6", "13.0", "13.2"),
}
