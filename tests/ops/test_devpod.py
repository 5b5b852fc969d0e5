"""`trainstack devpod connect|start|status` (trainstack/ops/devpod.py) against the fake API
server: a stopped pod recreated from its own spec, connect through a stand-in `kubectl` on PATH,
the messages that say what to run."""

from __future__ import annotations

import copy
import json
import os
import types

import pytest
from fake_apiserver import JSON, cluster_servers, status
from support import stack_data

from components import config, dev_pod
from trainstack import cli
from trainstack.ops import devpod

NS = "training"
POD_PATH = f"/api/v1/namespaces/{NS}/pods/{dev_pod.NAME}"
IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/trainstack-dev@sha256:" + "ab" * 32
TOKEN = "3f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a0998877"
LOG = (
    "2026-11-25T09:00:01.123456789Z [I 2026-11-25 09:00:01.120 ServerApp] Jupyter Server is "
    "running at:\n"
    f"2026-11-25T09:00:01.123456789Z     http://dev-pod:8888/lab?token={TOKEN}\n"
    "2026-11-25T09:00:02.000000000Z idle-stop: idle\n"
    "2026-11-25T09:05:00.000000000Z idle-stop: session on port 2222\n"
    "2026-11-25T09:40:00.000000000Z idle-stop: idle\n"
)


def live_pod(phase: str) -> dict:
    """The rendered dev pod as the API server returns it: server fields, a node, a status."""
    data, region = stack_data("dev")
    data["devPod"] = {"enabled": True, "nodePool": "small"}
    data["devPodSshKeys"] = "ssh-ed25519 AAAAC3Nz test"
    cfg = config.parse(data, region)
    pod = dev_pod.render_pod(cfg.dev_pod, namespace=NS, image=IMAGE, pool=cfg.pools()["small"])
    pod["metadata"].update(
        uid="0b7e0c8e-1111-2222-3333-444455556666",
        resourceVersion="4711",
        creationTimestamp="2026-11-25T08:58:00Z",
        managedFields=[{"manager": "pulumi-kubernetes", "operation": "Apply"}],
    )
    pod["spec"]["nodeName"] = "ip-10-0-1-5.us-west-2.compute.internal"
    for c in pod["spec"]["containers"]:  # the server returns quantities as strings
        for part in c["resources"].values():
            part.update({k: str(v) for k, v in part.items()})
    pod["status"] = {"phase": phase, "startTime": "2026-11-25T08:59:00Z"}
    return pod


class Cluster:
    """The API server's state for the dev pod: GET, DELETE (gone after one more read, as a
    pod whose kubelet still cleans up) and POST of pods, and the pod's log."""

    def __init__(self, pod: dict | None, log: str = LOG):
        self.pod, self.log, self.terminating = pod, log, False

    def get(self, path, query):
        if path == POD_PATH + "/log":
            return 200, self.log.encode(), "text/plain"
        if path == POD_PATH and self.pod is not None:
            body = self.pod
            if self.terminating:  # seen once more while it goes
                self.pod, self.terminating = None, False
            return 200, json.dumps(body).encode(), JSON
        return status(404, "NotFound", f'pods "{dev_pod.NAME}" not found')

    def write(self, method, path, query, body):
        if method == "DELETE" and path == POD_PATH and self.pod is not None:
            self.terminating = True
            return 200, json.dumps(self.pod).encode(), JSON
        if method == "POST" and path == f"/api/v1/namespaces/{NS}/pods":
            if self.pod is not None:
                return status(409, "AlreadyExists", f'pods "{dev_pod.NAME}" already exists')
            self.pod = {**body, "status": {"phase": "Pending"}}
            return 201, json.dumps(self.pod).encode(), JSON
        return status(404, "NotFound")


@pytest.fixture
def api(tmp_path):
    """(start) a FakeApiServer for a Cluster; returns (server, kubeconfig path)."""
    yield from cluster_servers(tmp_path)


@pytest.fixture
def sleeps(monkeypatch):
    made: list[float] = []

    def sleep(seconds):
        made.append(seconds)
        assert len(made) < 20, "devpod start kept waiting"

    monkeypatch.setattr(devpod, "time", types.SimpleNamespace(sleep=sleep))
    return made


def test_start_recreates_a_stopped_pod_from_its_own_spec(api, sleeps, capsys):
    stopped = live_pod("Succeeded")
    server, kc = api(Cluster(copy.deepcopy(stopped)))
    assert cli.main(["devpod", "start", "--kubeconfig", kc]) == 0
    methods = [(m, p) for m, p, _ in server.writes]
    assert methods == [("DELETE", POD_PATH), ("POST", f"/api/v1/namespaces/{NS}/pods")]
    created = server.writes[1][2]
    # The same pod, without what only the server may set: a create carrying a uid or
    # resourceVersion is refused, and nodeName would bind it to the node that was freed.
    want = copy.deepcopy(stopped)
    for k in ("uid", "resourceVersion", "creationTimestamp", "managedFields"):
        del want["metadata"][k]
    del want["spec"]["nodeName"]
    del want["status"]
    assert created == want
    assert created["spec"]["restartPolicy"] == "OnFailure"
    assert sleeps == [2]  # waited for the old object to go before reusing its name
    assert "recreating it" in capsys.readouterr().out


def test_start_leaves_a_running_pod_alone(api, capsys):
    server, kc = api(Cluster(live_pod("Running")))
    assert cli.main(["devpod", "start", "--kubeconfig", kc]) == 0
    assert server.writes == []
    assert "is Running: nothing to start" in capsys.readouterr().out


def test_a_missing_pod_points_at_pulumi_up_refresh(api, capsys):
    server, kc = api(Cluster(None))
    assert cli.main(["devpod", "start", "--kubeconfig", kc]) == 1
    err = capsys.readouterr().err
    assert "no dev pod training/dev-pod" in err and "`pulumi up --refresh`" in err
    assert server.writes == []


@pytest.fixture
def kubectl(tmp_path, monkeypatch):
    """A stand-in kubectl on PATH: records its argv and pid, says it forwards, then waits."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "kubectl-argv.json"
    script = bin_dir / "kubectl"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys, time\n"
        f"open({str(record)!r}, 'w').write(json.dumps([os.getpid(), sys.argv[1:]]))\n"
        "for p in (2222, 8888):\n"
        "    print(f'Forwarding from 127.0.0.1:{p} -> {p}', flush=True)\n"
        "    print(f'Forwarding from [::1]:{p} -> {p}', flush=True)\n"
        "time.sleep(60)\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return record


def test_connect_forwards_and_prints_the_ssh_and_jupyter_addresses(
    api, kubectl, monkeypatch, capsys
):
    _, kc = api(Cluster(live_pod("Running")))

    def ctrl_c(proc):
        raise KeyboardInterrupt

    monkeypatch.setattr(devpod, "wait_for_interrupt", ctrl_c)
    assert cli.main(["devpod", "connect", "--kubeconfig", kc]) == 0
    out = capsys.readouterr().out
    assert "ssh -p 2222 trainer@localhost" in out
    assert f"http://localhost:8888/lab?token={TOKEN}" in out
    pid, argv = json.loads(kubectl.read_text())
    assert argv == ["--kubeconfig", kc, "port-forward", "-n", NS, "pod/dev-pod"] + [
        "2222:2222",
        "8888:8888",
    ]
    with pytest.raises(ProcessLookupError):  # Ctrl-C stopped the port-forward
        os.kill(pid, 0)


def test_connect_without_kubectl_says_so_with_exit_2(api, tmp_path, monkeypatch, capsys):
    _, kc = api(Cluster(live_pod("Running")))
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert cli.main(["devpod", "connect", "--kubeconfig", kc]) == 2
    assert "kubectl is not on PATH" in capsys.readouterr().err


def test_connect_to_a_stopped_pod_names_devpod_start(api, kubectl, capsys):
    _, kc = api(Cluster(live_pod("Succeeded")))
    assert cli.main(["devpod", "connect", "--kubeconfig", kc]) == 1
    err = capsys.readouterr().err
    assert "stopped after being idle; run `trainstack devpod start`" in err
    assert not kubectl.exists()  # no port-forward to a pod that is not running


def test_status_shows_phase_node_and_how_long_it_has_been_idle(api, capsys):
    _, kc = api(Cluster(live_pod("Running")))
    assert cli.main(["devpod", "status", "--kubeconfig", kc]) == 0
    out = capsys.readouterr().out
    assert "Running on node ip-10-0-1-5.us-west-2.compute.internal" in out
    assert "idle stop: after 2h00m idle" in out
    assert "idle watcher: idle for" in out  # the last line of the log was "idle"


def test_idle_report_reads_the_watchers_last_line():
    from datetime import datetime, timezone

    now = datetime(2026, 11, 25, 10, 10, tzinfo=timezone.utc)
    assert devpod.idle_report(LOG, now) == "idle for 30 min (no session, GPUs below the threshold)"
    busy = LOG + "2026-11-25T10:00:00.5Z idle-stop: GPU utilisation 80% >= 5%\n"
    assert devpod.idle_report(busy, now) == (
        "in use: GPU utilisation 80% >= 5% (since 2026-11-25T10:00:00Z)"
    )
    assert devpod.idle_report("no watcher here\n", now) is None
