"""Which network NCCL used, read from its own INFO log, and the network check's verdict.

NCCL names the net it picked once per communicator, at init (NVIDIA/nccl v2.30.7-1
src/init.cc: `INFO(NCCL_INIT, "Using network %s", comm->ncclNet->name)`), with the prefix of
src/debug.cc (`<host>:<pid>:<tid> [<dev>] NCCL INFO ...`). The names:

- "Libfabric", or "AWS Libfabric" when NCCL_NET asks for it: the aws-ofi-nccl plugin over
  libfabric (aws-ofi-nccl v1.21.1 src/nccl_ofi_interface_nvidia.cpp), whose own lines start
  "NET/OFI " (include/nccl_ofi_log.h), e.g. "NET/OFI Selected provider is efa, fabric is ..."
  (src/nccl_ofi_net.cpp);
- "Socket": NCCL's built-in TCP transport (src/transport/net_socket.cc), which also prints
  "NET/Socket : Using [0]eth0:<addr>";
- "IB": NCCL's InfiniBand/RoCE verbs transport (src/transport/net_ib/common.cc).

Pure and standard library only: the verdict is tested from recorded log lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .exit_codes import EXIT_NETWORK, EXIT_OK

OFI, SOCKET, IB = "ofi", "socket", "ib"
_NET_NAMES = {"libfabric": OFI, "aws libfabric": OFI, "ofi": OFI, "socket": SOCKET, "ib": IB}
_USING = re.compile(r"NCCL INFO Using network (.+?)\s*$")
_OFI_PROVIDER = re.compile(r"NCCL INFO NET/OFI Selected provider is (\S+?),")
DEFAULT_MIN_FRACTION = 0.5


@dataclass(frozen=True)
class Transport:
    """What one rank's NCCL log says: the net's kind (ofi/socket/ib, None: no such line) and
    name as printed, and the libfabric provider aws-ofi-nccl chose (efa, tcp, ...)."""

    kind: str | None
    name: str | None = None
    provider: str | None = None

    @property
    def efa(self) -> bool:
        return self.kind == OFI and self.provider in (None, "efa")

    def describe(self) -> str:
        if self.kind is None:
            return "unknown (no 'Using network' line: NCCL_DEBUG below INFO?)"
        provider = f", provider {self.provider}" if self.provider else ""
        return f"{self.name}{provider}"


def transport(log: str) -> Transport:
    """The net of the last communicator NCCL initialised in `log` (one rank's output)."""
    kind = name = provider = None
    for line in log.splitlines():
        if m := _USING.search(line):
            name = m.group(1)
            kind = _NET_NAMES.get(name.lower(), name.lower())
        elif m := _OFI_PROVIDER.search(line):
            provider = m.group(1)
    return Transport(kind, name, provider)


@dataclass
class Verdict:
    code: int
    lines: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.code == EXIT_OK


def verdict(
    *,
    backend: str,
    transports: list[Transport],
    expect_efa: bool,
    nodes: int,
    busbw_gbps: float | None,
    expected_gbps: float | None,
    min_fraction: float = DEFAULT_MIN_FRACTION,
) -> Verdict:
    """Pass or EXIT_NETWORK. `transports` per rank; `busbw_gbps` the best bus bandwidth
    measured (nccl-tests' busbw, the one figure comparable to a link's speed whatever the rank
    count: NVIDIA/nccl-tests doc/PERFORMANCE.md); `expected_gbps` the instance's network."""
    if backend != "nccl":
        return Verdict(
            EXIT_OK,
            [f"backend {backend}: bandwidth measured, no GPU/EFA verdict (needs NCCL on GPUs)"],
        )
    out = Verdict(EXIT_OK)
    if expect_efa:
        off = [f"rank {r}: {t.describe()}" for r, t in enumerate(transports) if not t.efa]
        if off:
            out.code = EXIT_NETWORK
            out.lines.append("FAIL: EFA expected but NCCL did not use it: " + "; ".join(off))
        else:
            out.lines.append(f"ok: every rank used {transports[0].describe()}")
    else:
        kinds = sorted({t.describe() for t in transports})
        out.lines.append(f"transport: {', '.join(kinds)} (EFA not expected)")
    if nodes < 2:
        out.lines.append(
            "one node: traffic stays inside it (NVLink/PCIe), no network bandwidth verdict"
        )
    elif expected_gbps is None:
        out.lines.append("no expected bandwidth given (--expected-gbps): no bandwidth verdict")
    elif busbw_gbps is not None:
        floor = min_fraction * expected_gbps
        share = busbw_gbps / expected_gbps
        text = (
            f"best bus bandwidth {busbw_gbps:.1f} Gbps is {share:.0%} of the instance's "
            f"{expected_gbps:g} Gbps (floor {min_fraction:.0%}: {floor:.1f} Gbps)"
        )
        if busbw_gbps < floor:
            out.code = EXIT_NETWORK
            out.lines.append(f"FAIL: {text}")
        else:
            out.lines.append(f"ok: {text}")
    return out
