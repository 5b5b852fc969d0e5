"""The dev pod's idle stop: sessions read from the kernel's TCP table, GPUs from nvidia-smi, and
the exit that ends the pod only after the idle time has passed with neither."""

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trainer import idle_stop

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def connection():
    """A real established TCP connection to a listening port on loopback."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    yield port, client
    for s in (client, accepted, server):
        s.close()


def fake_tool(tmp_path: Path, script: str) -> str:
    tool = tmp_path / "nvidia-smi"
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return str(tool)


def test_an_open_connection_is_a_session(connection):
    port, _ = connection
    assert port in idle_stop.established_local_ports()
    assert idle_stop.busy_reason({port}, 5, gpus=lambda: []) == f"session on port {port}"
    # A connection to another port is not a session of the dev pod.
    assert idle_stop.busy_reason({port + 1}, 5, gpus=lambda: []) is None


def test_gpu_utilisation_from_nvidia_smi(tmp_path):
    assert idle_stop.gpu_utilisation(fake_tool(tmp_path, 'echo "3"\necho "41"\n')) == [3, 41]
    assert idle_stop.gpu_utilisation(fake_tool(tmp_path, "exit 9\n")) is None
    assert idle_stop.gpu_utilisation(fake_tool(tmp_path, "echo '[N/A]'\n")) is None


@pytest.mark.parametrize(
    ("gpus", "busy"),
    [([], False), ([0, 4], False), ([0, 5], True), (None, True)],
)
def test_gpu_threshold_and_unreadable_gpus(gpus, busy):
    reason = idle_stop.busy_reason(set(), 5, sessions=set, gpus=lambda: gpus)
    assert (reason is not None) == busy


def test_watch_needs_the_whole_idle_time_in_one_stretch():
    now = [0.0]
    busy_until = {30.0, 60.0}  # busy at these check times only
    states = []

    def is_busy():
        states.append(now[0])
        return "session" if now[0] in busy_until else None

    idle_stop.watch(
        after=100,
        interval=10,
        is_busy=is_busy,
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
        log=lambda line: None,
    )
    # The last busy check was at 60 s: it returns at the first check >= 160 s, not at 100 s.
    assert states[-1] == 160.0


def test_the_process_exits_0_only_after_the_session_closes(connection, tmp_path):
    port, client = connection
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": str(tmp_path)}  # no nvidia-smi
    cmd = [sys.executable, "-m", "trainer.idle_stop", "--after", "0.3", "--interval", "0.05"]
    proc = subprocess.Popen(
        [*cmd, "--ports", str(port)], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(1.0)
        assert proc.poll() is None, "stopped while a session was open"
        client.close()
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
    log = proc.stderr.read()
    assert f"session on port {port}" in log and "stopping the dev pod" in log
