"""trainer.netcheck's GPU/EFA verdict from NCCL log lines as the pinned versions print them.
Its real 2-rank gloo run under torchrun (the table, exit 0, no GPU verdict, the hand-over to
training) is in test_hung_job.py, whose run it shares."""

from __future__ import annotations

from trainer import netcheck
from trainer.exit_codes import EXIT_NETWORK, PERMANENT, pod_code
from trainer.nccl_transport import OFI, SOCKET, transport, verdict

# Written as NCCL v2.30.7-1 prints them (src/debug.cc: "<host>:<pid>:<tid> [<dev>] NCCL INFO
# <msg>"): "Using network %s" from src/init.cc, "NET/Plugin: Loaded net plugin %s (v12)" from
# src/plugin/net/net_v12.cc, "NET/Socket : Using%s" from src/transport/net_socket.cc; the
# NET/OFI line from aws-ofi-nccl v1.21.1 src/nccl_ofi_net.cpp (prefix: include/nccl_ofi_log.h).
OFI_LOG = """\
node-a:71:71 [0] NCCL INFO NET/Plugin: Loaded net plugin Libfabric (v12)
node-a:71:71 [0] NCCL INFO NET/OFI Selected provider is efa, fabric is efa-direct (found 4 nics)
node-a:71:71 [0] NCCL INFO Using network Libfabric
"""
SOCKET_LOG = """\
node-b:72:72 [0] NCCL INFO NET/Plugin: Could not find: libnccl-net.so.
node-b:72:72 [0] NCCL INFO NET/Socket : Using [0]eth0:10.0.3.17<0>
node-b:72:72 [0] NCCL INFO Using network Socket
"""


def _verdict(logs: list[str], *, busbw: float = 300.0, expected: float = 400.0, nodes: int = 2):
    return verdict(
        backend="nccl",
        transports=[transport(t) for t in logs],
        expect_efa=True,
        nodes=nodes,
        busbw_gbps=busbw,
        expected_gbps=expected,
        min_fraction=0.5,
    )


def test_efa_at_the_promised_bandwidth_passes():
    assert transport(OFI_LOG).kind == OFI and transport(OFI_LOG).efa
    v = _verdict([OFI_LOG, OFI_LOG])
    assert v.passed, v.lines


def test_a_rank_fallen_back_to_sockets_fails_permanently():
    assert transport(SOCKET_LOG).kind == SOCKET
    v = _verdict([OFI_LOG, SOCKET_LOG])
    assert v.code == EXIT_NETWORK and "rank 1: Socket" in v.lines[0]
    # the launcher keeps it: the operator fails the job instead of recreating the pod
    assert EXIT_NETWORK in PERMANENT and pod_code([EXIT_NETWORK, -15]) == EXIT_NETWORK < 128


def test_bandwidth_under_the_fraction_fails_and_one_node_gives_no_bandwidth_verdict():
    assert _verdict([OFI_LOG] * 2, busbw=150.0).code == EXIT_NETWORK  # 37% of 400
    assert _verdict([OFI_LOG] * 2, busbw=150.0, nodes=1).passed
    assert _verdict([OFI_LOG.replace("is efa,", "is tcp,")] * 2).code == EXIT_NETWORK


def test_busbw_factors_are_nccl_tests():
    # NVIDIA/nccl-tests v2.19.6 doc/PERFORMANCE.md
    assert netcheck.bus_factor("all_reduce", 8) == 2 * 7 / 8
    assert netcheck.bus_factor("all_gather", 8) == 7 / 8
