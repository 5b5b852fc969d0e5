"""A TCP port for a process a test starts, which binds it only later (torchrun's rendezvous,
a TCPStore, a server).

Picking it by binding port 0 and closing races with every other socket the suite opens: the
kernel hands out that same ephemeral range to gloo's pair sockets, outgoing connections and
other tests' port-0 binds, so under several xdist workers a port could be taken between the
check and the bind. These ports come from below the ephemeral range (and above Ray's worker
ports, 10002-19999 by default), where nothing binds unasked, and each xdist worker draws from
its own slice, so two workers never pick the same one.
"""

from __future__ import annotations

import os
import random
import socket

_LOW = 20000  # above Ray's default worker port range
_SLICE = 1000


def _ephemeral_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _slice() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    slices = max(1, (_ephemeral_start() - _LOW) // _SLICE)
    start = _LOW + (int(worker) if worker.isdigit() else 0) % slices * _SLICE
    return range(start, start + _SLICE)


def free_port() -> int:
    """A port of this worker's slice that nothing holds now."""
    ports = _slice()
    for port in random.sample(ports, 50):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")
