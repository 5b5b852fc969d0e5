"""`trainstack serve connect <name>` (trainstack/ops/serve.py) with a stand-in `kubectl` on PATH:
the port-forward it runs, the curl it prints, and what it says when kubectl cannot forward."""

from __future__ import annotations

import json
import os
import shlex

import pytest

from trainstack import cli
from trainstack.ops import serve


def _kubectl(tmp_path, monkeypatch, body: str):
    """A stand-in kubectl: writes its arguments one per line, then runs `body` (sh)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "kubectl-argv"
    script = bin_dir / "kubectl"
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {record}\n{body}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return record


def test_connect_forwards_the_service_and_prints_a_completion_query(tmp_path, monkeypatch, capsys):
    record = _kubectl(
        tmp_path,
        monkeypatch,
        "echo 'Forwarding from 127.0.0.1:9000 -> 8000'\n"
        "echo 'Forwarding from [::1]:9000 -> 8000'\nexec sleep 60",
    )

    def ctrl_c(proc):
        raise KeyboardInterrupt

    monkeypatch.setattr(serve, "wait_for_interrupt", ctrl_c)
    argv = ["serve", "connect", "llama-8b", "-n", "ml", "--kubeconfig", "kc", "--port", "9000"]
    assert cli.main(argv) == 0
    assert record.read_text().split() == [
        "--kubeconfig",
        "kc",
        "port-forward",
        "-n",
        "ml",
        "svc/llama-8b",
        "9000:8000",
    ]
    out = capsys.readouterr().out
    query = next(line for line in out.splitlines() if line.startswith("query:"))
    words = shlex.split(query.removeprefix("query:"))
    assert words[:3] == ["curl", "-s", "http://localhost:9000/v1/completions"]
    body = json.loads(words[words.index("-d") + 1])
    assert body["model"] == "llama-8b"  # the served model's name is the servingJobs key
    assert body["prompt"] and body["max_tokens"] > 0


def test_a_server_without_a_ready_pod_is_explained(tmp_path, monkeypatch, capsys):
    _kubectl(tmp_path, monkeypatch, "echo 'error: no pods' >&2\nexit 1")
    assert cli.main(["serve", "connect", "llama-8b"]) == 1
    err = capsys.readouterr().err
    assert "svc/llama-8b in training exited with status 1" in err
    assert "servingJobs.llama-8b.replicas: 0" in err
    assert "-l trainstack.io/serving=llama-8b" in err


def test_connect_without_kubectl_says_so_with_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert cli.main(["serve", "connect", "llama-8b"]) == 2
    assert "kubectl is not on PATH" in capsys.readouterr().err


@pytest.mark.parametrize("kubeconfig", [None, "/k"])
def test_the_forward_command(kubeconfig):
    cmd = serve.forward_command("kubectl", "m", "training", 8000, kubeconfig)
    assert cmd[-4:] == ["-n", "training", "svc/m", "8000:8000"]
    assert ("--kubeconfig" in cmd) == bool(kubeconfig)
