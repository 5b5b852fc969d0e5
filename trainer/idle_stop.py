"""The dev pod's idle stop: end the pod once nobody has used it for a while, so a forgotten dev
pod stops costing a GPU node.

`python -m trainer.idle_stop --after SECONDS --ports 2222,8888 --gpu-below 5` runs beside sshd
and JupyterLab in the dev pod (components/dev_pod.py). It exits 0 after the pod has been idle for
`--after` seconds in a row; the pod's `restartPolicy: OnFailure` then leaves it `Succeeded`, its
containers stop, and Karpenter can remove the node. A crash of sshd or Jupyter is a non-zero exit
and restarts the container as before.

Idle means, at every check:
- no established TCP connection to any of `--ports`. Both ways in end as such a connection inside
  the pod's network namespace: `kubectl port-forward` (the kubelet dials localhost:port in the
  pod) and the optional load balancer. An open JupyterLab tab holds a websocket, so it counts.
- every GPU's utilisation (`nvidia-smi`) below `--gpu-below` percent, so a run started with
  `nohup` and left alone keeps the pod. A GPU that cannot be read counts as busy: stopping
  someone's work is worse than one more idle hour.

Standard library only: it runs in the trainer image before anything else is imported.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

TCP_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
ESTABLISHED = "01"  # include/net/tcp_states.h: TCP_ESTABLISHED = 1, hex in /proc/net/tcp


def established_local_ports(tables: Iterable[str | Path] = TCP_TABLES) -> set[int]:
    """Local ports of the established TCP connections in this network namespace."""
    ports: set[int] = set()
    for table in tables:
        try:
            lines = Path(table).read_text().splitlines()[1:]  # [0] is the header
        except OSError:
            continue  # no IPv6 in the pod, for example
        for line in lines:
            fields = line.split()
            # sl local_address rem_address st ...; an address is HEXIP:HEXPORT
            if len(fields) > 3 and fields[3] == ESTABLISHED:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def gpu_utilisation(nvidia_smi: str | None = None) -> list[int] | None:
    """Each GPU's utilisation in percent; [] with no GPU tool; None when it cannot be read."""
    tool = nvidia_smi or shutil.which("nvidia-smi")
    if tool is None:
        return []
    try:
        out = subprocess.run(
            [tool, "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        return [int(v) for v in out.split()]
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def busy_reason(
    ports: set[int],
    gpu_below: int,
    sessions: Callable[[], set[int]] = established_local_ports,
    gpus: Callable[[], list[int] | None] = gpu_utilisation,
) -> str | None:
    """Why the pod is in use right now, or None when it is idle."""
    open_ports = sorted(ports & sessions())
    if open_ports:
        return f"session on port {', '.join(map(str, open_ports))}"
    used = gpus()
    if used is None:
        return "GPU utilisation unreadable (counted as busy)"
    if any(u >= gpu_below for u in used):
        return f"GPU utilisation {max(used)}% >= {gpu_below}%"
    return None


def watch(
    after: float,
    interval: float,
    is_busy: Callable[[], str | None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> None:
    """Return once `is_busy()` has said None for `after` seconds in a row."""
    idle_since = clock()
    last_reason: str | None = "start"
    while True:
        reason = is_busy()
        now = clock()
        if reason is not None:
            idle_since = now
        elif now - idle_since >= after:
            log(f"idle-stop: idle for {int(now - idle_since)} s; stopping the dev pod")
            return
        if reason != last_reason:  # one line per change, not per check
            log(f"idle-stop: {reason or 'idle'}")
            last_reason = reason
        sleep(interval)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainer.idle_stop", description=__doc__)
    p.add_argument("--after", type=float, required=True, help="idle seconds before stopping")
    p.add_argument("--ports", default="", help="comma-separated ports whose sessions count")
    p.add_argument("--gpu-below", type=int, default=5, help="GPU %% under which a GPU is idle")
    p.add_argument("--interval", type=float, default=60, help="seconds between checks")
    args = p.parse_args(argv)
    ports = {int(x) for x in args.ports.split(",") if x}
    watch(args.after, args.interval, lambda: busy_reason(ports, args.gpu_below))
    return 0


if __name__ == "__main__":
    sys.exit(main())
