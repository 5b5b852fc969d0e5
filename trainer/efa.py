"""Can NCCL use EFA in this container? What the selftest's `--expect-efa` check looks at, and the
image build's link that lets the aws-ofi-nccl plugin find the CUDA runtime.

NCCL loads its network plugin, and falls back to TCP sockets without a word above INFO when the
plugin is missing or its init fails. Before any NCCL init this module checks what that depends on:

- libfabric sees an `efa` provider (`fi_info -p efa`, the EFA installer's tool);
- the library NCCL would open as its net plugin (NVIDIA/nccl v2.30.7-1 src/plugin/net.cc and
  plugin_open.cc: NCCL_NET_PLUGIN unset -> `libnccl-net.so`; `none` -> no plugin; otherwise each
  comma-separated name as given, then as `libnccl-net-<name>.so`) loads and is aws-ofi-nccl: its
  `ncclNetPlugin_vN` struct starts with the net's name, "Libfabric" (or "AWS Libfabric"/"OFI"
  when NCCL_NET asks for those: aws-ofi-nccl v1.21.1 src/nccl_ofi_interface_nvidia.cpp);
- NCCL_NET, which pins NCCL to one net by name, does not name another net;
- `libcudart.so` loads: the plugin dlopens that unversioned name at init (aws-ofi-nccl v1.21.1
  src/nccl_ofi_cuda.cpp, built with --enable-cudart-dynamic) and gives up on CUDA without it.

`python -m trainer.efa link-cudart DIR` (a Dockerfile step) links DIR/libcudart.so to the
libcudart.so.<major> that torch loads: the pytorch/pytorch runtime images ship it only inside the
nvidia-* wheels. Standard library only.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

FI_INFO_DIRS = ("/opt/amazon/efa/bin",)  # the EFA installer's prefix, not on PATH in a container
DEFAULT_NET_PLUGIN = "libnccl-net.so"
# The names aws-ofi-nccl's NCCL net can carry (compared case-insensitively, as the plugin does).
OFI_NET_NAMES = ("libfabric", "aws libfabric", "ofi")
# Newest first: the plugin interface versions NCCL 2.30 looks up (nccl_net.h: v12 and older).
PLUGIN_SYMBOLS = tuple(f"ncclNetPlugin_v{v}" for v in range(12, 5, -1))
CUDART = "libcudart.so"
_CUDART_VERSIONED = re.compile(r"/libcudart\.so\.(\d+)(?:\.[\d.]+)?$")


# -------------------------------------------------------------------------- what NCCL would do


def net_plugin_candidates(env: dict[str, str]) -> list[str]:
    """The libraries NCCL tries as its external net plugin, in order (empty: none at all)."""
    value = env.get("NCCL_NET_PLUGIN")
    if value is None:
        return [DEFAULT_NET_PLUGIN]
    if value.lower() == "none":
        return []
    out = []
    for name in filter(None, value.split(",")):
        out.append(name)
        if "/" not in name and not (name.startswith("lib") and name.endswith(".so")):
            out.append(f"libnccl-net-{name}.so")
    return out


@dataclass
class Facts:
    """What the check found; `efa_problems` decides on these alone."""

    fi_info: str | None  # path of fi_info, None if not found
    fi_info_code: int | None = None
    fi_info_output: str = ""
    plugin: str | None = None  # the first candidate that loaded
    plugin_name: str | None = None  # its net name, None if it exports no ncclNetPlugin_vN
    plugin_errors: list[str] = field(default_factory=list)  # candidates that did not load
    cudart_error: str | None = None
    nccl_net: str | None = None  # NCCL_NET
    candidates: list[str] = field(default_factory=list)


def efa_problems(f: Facts) -> list[str]:
    """Why NCCL would not run over EFA here; empty if nothing stops it before NCCL init."""
    problems = []
    if f.fi_info is None:
        problems.append(
            "fi_info not found on PATH or in /opt/amazon/efa/bin: libfabric from the "
            "EFA installer is not in the image"
        )
    elif f.fi_info_code != 0 or "provider: efa" not in f.fi_info_output:
        tail = " ".join(f.fi_info_output.split())[-300:]
        problems.append(
            f"libfabric has no efa provider (`fi_info -p efa` exited "
            f"{f.fi_info_code}: {tail or 'no output'}): no EFA device in the pod "
            "(vpc.amazonaws.com/efa not requested, or the node has none)"
        )
    if not f.candidates:
        problems.append("NCCL_NET_PLUGIN=none: NCCL loads no net plugin and uses TCP sockets")
    elif f.plugin is None:
        problems.append(
            f"no NCCL net plugin loads ({'; '.join(f.plugin_errors)}): NCCL would use TCP sockets"
        )
    elif f.plugin_name is None:
        problems.append(
            f"{f.plugin} exports none of {', '.join(PLUGIN_SYMBOLS)}: not a NCCL net plugin"
        )
    elif f.plugin_name.lower() not in OFI_NET_NAMES:
        problems.append(f"NCCL's net plugin {f.plugin} is {f.plugin_name!r}, not aws-ofi-nccl")
    if f.nccl_net and f.nccl_net.lower() not in OFI_NET_NAMES:
        problems.append(
            f"NCCL_NET={f.nccl_net} pins NCCL to a net other than aws-ofi-nccl's "
            f"({', '.join(OFI_NET_NAMES)})"
        )
    if f.cudart_error is not None:
        problems.append(
            f"{CUDART} does not load ({f.cudart_error}): aws-ofi-nccl's init "
            "fails with 'Failed to find CUDA Runtime library'"
        )
    return problems


# ------------------------------------------------------------------------------ looking


def _load(name: str) -> tuple[ctypes.CDLL | None, str | None]:
    try:
        return ctypes.CDLL(name), None
    except OSError as e:
        return None, str(e)


def _net_name(lib: ctypes.CDLL) -> str | None:
    """The name field (the first member) of the newest ncclNetPlugin_vN the library exports."""
    for symbol in PLUGIN_SYMBOLS:
        try:
            name = ctypes.c_char_p.in_dll(lib, symbol).value
        except ValueError:
            continue
        return (name or b"").decode(errors="replace")
    return None


def probe(env: dict[str, str] | None = None) -> Facts:
    env = dict(os.environ if env is None else env)
    path = os.pathsep.join([env.get("PATH", os.defpath), *FI_INFO_DIRS])
    facts = Facts(
        fi_info=shutil.which("fi_info", path=path),
        nccl_net=env.get("NCCL_NET"),
        candidates=net_plugin_candidates(env),
    )
    if facts.fi_info:
        try:
            proc = subprocess.run(
                [facts.fi_info, "-p", "efa"], capture_output=True, text=True, timeout=60, env=env
            )
            facts.fi_info_code, facts.fi_info_output = proc.returncode, proc.stdout + proc.stderr
        except (OSError, subprocess.TimeoutExpired) as e:
            facts.fi_info_code, facts.fi_info_output = -1, f"{type(e).__name__}: {e}"
    for candidate in facts.candidates:
        lib, error = _load(candidate)
        if lib is None:
            facts.plugin_errors.append(error or candidate)
            continue
        facts.plugin, facts.plugin_name = candidate, _net_name(lib)
        break
    facts.cudart_error = _load(CUDART)[1]
    return facts


def describe(f: Facts) -> str:
    return (
        f"libfabric efa provider ({f.fi_info}), NCCL net plugin {f.plugin} "
        f"({f.plugin_name!r}), {CUDART} loads"
    )


# ---------------------------------------------------------------------- the build-time link


def cudart_in_maps(maps: str, major: str | None = None) -> str | None:
    """The libcudart.so.<major>[.x.y] a process has mapped (/proc/<pid>/maps text)."""
    for line in maps.splitlines():
        path = line.split(maxsplit=5)[-1] if line.count(" ") >= 5 else ""
        m = _CUDART_VERSIONED.search(path)
        if m and (major is None or m.group(1) == major):
            return path
    return None


def find_cudart() -> str:
    """The CUDA runtime the installed torch uses: the one its import mapped, else the nvidia
    wheels' copy for torch's CUDA major. Raises if torch is not a CUDA build or none is found."""
    import torch

    if torch.version.cuda is None:
        raise SystemExit(f"torch {torch.__version__} is not a CUDA build: no libcudart to link")
    major = torch.version.cuda.split(".")[0]
    found = cudart_in_maps(Path("/proc/self/maps").read_text(), major)
    if found:
        return found
    site = Path(torch.__file__).resolve().parents[1]
    wheels = sorted(
        glob.glob(str(site / "nvidia" / "**" / f"libcudart.so.{major}*"), recursive=True)
    )
    if not wheels:
        raise SystemExit(f"no libcudart.so.{major} mapped by torch nor under {site}/nvidia")
    return wheels[0]


def link_cudart(target_dir: str | Path, cudart: str) -> Path:
    """target_dir/libcudart.so -> cudart. The same file torch maps, so the loader keeps one copy
    of the runtime in a process that has both (it matches an open library by file identity)."""
    link = Path(target_dir) / CUDART
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(cudart)
    return link


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainer.efa", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    link = sub.add_parser("link-cudart", help="link DIR/libcudart.so to torch's CUDA runtime")
    link.add_argument("dir")
    sub.add_parser("check", help="print why NCCL would not use EFA here; exit 1 if anything")
    args = p.parse_args(argv)
    if args.command == "link-cudart":
        cudart = find_cudart()
        print(f"{link_cudart(args.dir, cudart)} -> {cudart}")
        return 0
    problems = efa_problems(probe())
    print("\n".join(problems) or "EFA usable by NCCL")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
