"""`trainstack serve connect <name>`: reach a served model (components/serving.py) from this
machine. It runs `kubectl port-forward` to the server's Service, waits until kubectl forwards,
then prints a `curl` of the OpenAI-compatible `/v1/completions` with the served model's name (the
servingJobs key, vLLM's --served-model-name), and keeps forwarding until Ctrl-C.

No API call of its own: kubectl resolves the Service to a ready pod, and says so when there is
none (a stopped server, replicas 0, has no pod).
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import threading
from typing import TextIO

from components import serving

from . import port_forward

PROMPT = "The capital of France is"
MAX_TOKENS = 32


class ServeError(Exception):
    """A problem the user can act on; `code` is the exit status (2: a missing tool)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def forward_command(
    kubectl: str, name: str, namespace: str, local_port: int, kubeconfig: str | None
) -> list[str]:
    """`kubectl port-forward` of the server's Service port to `local_port`."""
    cmd = [kubectl] + (["--kubeconfig", kubeconfig] if kubeconfig else [])
    return cmd + [
        "port-forward",
        "-n",
        namespace,
        f"svc/{name}",
        f"{local_port}:{serving.PORT}",
    ]


def completion_request(name: str) -> dict:
    return {"model": name, "prompt": PROMPT, "max_tokens": MAX_TOKENS, "temperature": 0}


def curl_command(name: str, local_port: int) -> str:
    """A query of the forwarded server, ready to paste."""
    return shlex.join(
        [
            "curl",
            "-s",
            f"http://localhost:{local_port}/v1/completions",
            "-H",
            "Content-Type: application/json",
            "-d",
            json.dumps(completion_request(name)),
        ]
    )


def not_forwarding(name: str, namespace: str, code: int | None, seen: list[str]) -> str:
    said = f": {' '.join(seen)}" if seen else ""
    return (
        f"kubectl port-forward to svc/{name} in {namespace} exited with status {code} before "
        f"forwarding{said}. A server declared stopped (servingJobs.{name}.replicas: 0) has no "
        "pod, and a new one is not ready until its model has loaded: `kubectl get pods -n "
        f"{namespace} -l {serving.SERVING_LABEL}={name}` shows where it is"
    )


def wait_for_interrupt(proc: subprocess.Popen) -> int:
    """Until Ctrl-C (KeyboardInterrupt) or the port-forward ending on its own."""
    return proc.wait()


def connect(
    name: str,
    namespace: str,
    *,
    kubeconfig: str | None,
    local_port: int,
    out: TextIO | None = None,
) -> int:
    """Forward, print the curl, and keep forwarding until Ctrl-C; 1 when kubectl ends."""
    out = out or sys.stdout
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise ServeError(
            "kubectl is not on PATH; install it (https://kubernetes.io/docs/tasks/tools/) to "
            "forward the server's port",
            code=2,
        )
    return port_forward.hold(
        forward_command(kubectl, name, namespace, local_port, kubeconfig),
        lambda proc: _forwarding(proc, name, namespace, local_port, out),
        out,
    )


def _forwarding(proc, name: str, namespace: str, local_port: int, out: TextIO) -> int:
    assert proc.stdout is not None
    seen = []
    while True:
        line = proc.stdout.readline()
        if not line:  # kubectl ended before forwarding (its error went to stderr)
            proc.wait()
            raise ServeError(not_forwarding(name, namespace, proc.returncode, seen))
        seen.append(line.strip())
        if line.startswith("Forwarding from") and f":{local_port} " in line:
            break
    # kubectl prints a line per connection; unread, a full pipe would stall it.
    threading.Thread(target=lambda: proc.stdout.read(), daemon=True).start()
    print(f"{namespace}/{name} on http://localhost:{local_port} (OpenAI-compatible API)", file=out)
    print(f"query:   {curl_command(name, local_port)}", file=out)
    print(f"models:  curl -s http://localhost:{local_port}/v1/models", file=out)
    print("forwarding; Ctrl-C stops", file=out, flush=True)
    code = wait_for_interrupt(proc)
    print(f"kubectl port-forward ended (status {code})", file=out)
    return 1
