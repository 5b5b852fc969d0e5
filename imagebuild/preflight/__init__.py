"""Dockerfile preflight: the conflicts between a training image's base, its pip installs and the
GPU nodes, found before an hour of CodeBuild (or a CrashLoopBackOff on a GPU node) finds them.

    python -m imagebuild.preflight [--dockerfile trainer/Dockerfile]
        [--requirements trainer/requirements.txt ...] [--build-arg NAME=VALUE ...] [--json] [--fix]

Paths are relative to the current directory (CodeBuild runs it from the source root, which is also
the build context). Besides the --requirements files (default trainer/requirements.txt) it reads
every requirements file the Dockerfile's pip installs with -r/-c, found through its COPY lines,
and the files those include. Exit code 1 when any finding is an error, 0 otherwise, 2 when a file
cannot be read. Needs the standard library and `packaging` (requirements, PEP 440 versions and
markers read as pip reads them); CodeBuild's buildspec installs the pinned `packaging` in its
install phase, before this runs. The version facts are imagebuild/cuda_versions.py, plain data
that components/versions.py re-exports.

One concern per module: facts.py (version facts and arithmetic), base.py (what a FROM tag says),
image.py (stages, requirements, indexes, installed files), findings.py (Finding and Edit), the
checks by concern (checks_base, checks_torch, checks_cuda, checks_python, checks_pins),
analysis.py (all checks over one image), fix.py (`--fix`), cli.py (arguments and output).

Finding codes (stable; a code's meaning never changes, new checks get new codes):

  TS100 error    the Dockerfile cannot be analysed (no FROM, unclosed continuation or heredoc,
                 a FROM variable with no value).
  TS101 error    a base image with neither tag nor digest (`FROM pytorch/pytorch`).
  TS102 error    a base image on `:latest`.
  TS103 error    the base image's torch (pytorch/pytorch:<torch>-...) is not the `torch==` pin.
  TS104 error    ARG TORCH_VERSION / CUDA_VERSION disagree with the base tag they describe.
  TS105 warning  torch is not pinned with `==` (error when `pip install -U` names it: that
                 replaces the base's CUDA build with PyPI's newest).
  TS106 warning  a pytorch/pytorch or nvidia/cuda tag this module cannot read: the torch/CUDA
                 checks are skipped for it.
  TS201 error    a `+cuXXX` / `+cpu` wheel pin for another CUDA than the base image's.
  TS202 error    a download.pytorch.org index or find-links (`/whl/cuXXX`, `/whl/cpu`) for another
                 CUDA than the image's (a CPU index on a CUDA image included).
  TS203 error    the image's CUDA is newer than the node driver runs (NVIDIA_DRIVER_MAX_CUDA).
  TS204 error    a torch release / CUDA pair with no published build (TORCH_CUDA_BUILDS).
  TS205 warning  a torch release missing from TORCH_CUDA_BUILDS: its CUDA builds are unknown.
  TS206 warning  torch comes from PyPI onto a base without torch: which CUDA build is unchecked.
  TS301 error    `python3.X -m pip` / `pip3.X` for another Python than the stage's.
  TS302 error    `COPY --from` a stage whose Python differs (wheels, venvs, site-packages).
  TS303 error    every line of a package has a marker excluding the image's Python: pip skips it.
  TS401 error    conflicting pins of one package (`==` vs `==`, `==` vs an excluding range, or
                 ranges that do not overlap), across all requirement files and RUN lines.
  TS402 warning  one package pinned in several places (compatible, but two sources of truth).
  TS403 warning  pip installs a requirements file (`-r`) that was not given to the preflight.
  TS404 error    a requirement pip refuses (packaging cannot read it: `torch<=2.13.0+cu130`,
                 a local label on an ordered comparison, is one).

The TS30x checks are warnings instead of errors when the Python they compare against is inferred
from the pytorch/pytorch table below rather than stated by the base tag or the distribution.
"""

from __future__ import annotations

from pathlib import Path

from .. import cuda_versions
from .. import dockerfile as _dockerfile
from .analysis import CHECKS, analyze, base_image_problems
from .base import PYTORCH_IMAGE_PYTHON, UBUNTU_PYTHON, Base, pytorch_tag, read_base
from .cli import add_arguments, main, read_requirement_files, run
from .facts import Facts, best_cuda, cu_tag, cuda_of_tag, load_facts, newest_release, public
from .findings import Finding
from .image import MARKER_ENV, Image, Stage, build_image, build_stages, installed_requirement_files

__all__ = [
    "CHECKS",
    "MARKER_ENV",
    "PYTORCH_IMAGE_PYTHON",
    "RUNTIME_FILES",
    "UBUNTU_PYTHON",
    "Base",
    "Facts",
    "Finding",
    "Image",
    "Stage",
    "add_arguments",
    "analyze",
    "base_image_problems",
    "best_cuda",
    "build_image",
    "build_stages",
    "cu_tag",
    "cuda_of_tag",
    "installed_requirement_files",
    "load_facts",
    "main",
    "newest_release",
    "public",
    "pytorch_tag",
    "read_base",
    "read_requirement_files",
    "run",
]

REPO_ROOT = Path(__file__).resolve().parents[2]


def _module_files(module_file: str) -> list[Path]:
    """A module's file; for a package (its __init__.py), every module in it, so a module that is
    split into a package later still ships whole."""
    path = Path(module_file).resolve()
    return sorted(path.parent.glob("*.py")) if path.name == "__init__.py" else [path]


# Every file `python3 -m imagebuild.preflight` reads besides its inputs, relative to the repository
# root: imagebuild's __init__, this package, the Dockerfile parser and the version facts. The
# CodeBuild source bundle (imagebuild/builder.py) is built from this, so the two cannot drift apart.
RUNTIME_FILES = tuple(
    dict.fromkeys(
        [
            *(
                path.relative_to(REPO_ROOT).as_posix()
                for path in [
                    Path(__file__).resolve().parents[1] / "__init__.py",
                    *_module_files(__file__),
                    *_module_files(cuda_versions.__file__),
                ]
            ),
            *_dockerfile.PARSER_FILES,
        ]
    )
)
