"""`trainstack devpod connect|start|status`: the dev pod (components/dev_pod.py) as its user sees
it. connect runs `kubectl port-forward` and prints where to point ssh and the browser; start
recreates a pod the idle stop (trainer/idle_stop.py) ended; status says what it is doing.

An idle stop leaves the pod `Succeeded` (restartPolicy OnFailure). Karpenter then removes its
node, and the pod garbage collector deletes pods bound to a node that no longer exists, Succeeded
ones included (kubernetes/kubernetes pkg/controller/podgc/gc_controller.go, gcOrphaned). So a
stopped dev pod is either still there, Succeeded (start recreates it from its own spec), or gone
(`pulumi up --refresh` finds it deleted and creates it again).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any, TextIO

from components import dev_pod

from . import kube, port_forward

# Jupyter Server prints its login URLs with the token (`...:8888/lab?token=<hex>`).
TOKEN = re.compile(r"[?&]token=([0-9A-Za-z_-]+)")
# What trainer/idle_stop.py logs, one line per change, behind the kubelet's timestamp.
IDLE_LINE = re.compile(r"^(\S+) idle-stop: (.*)$")
WATCHER_AFTER = re.compile(r"trainer\.idle_stop --after (\d+)")
# Fields the API server sets: a created object may not carry them, and nodeName would pin the
# new pod to a node that may be gone.
SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "managedFields",
    "selfLink",
)
DELETE_WAIT_S = 180


class DevPodError(Exception):
    """A problem the user can act on; the message says how. `code` is the exit status: 1 for
    the pod's state, 2 for a missing tool."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def _core(api_client):
    from kubernetes import client

    return client.CoreV1Api(api_client)


def read_pod(api_client, namespace: str) -> dict[str, Any] | None:
    """The dev pod as the API's JSON, or None when there is none."""
    from kubernetes.client.rest import ApiException

    try:
        return kube.to_dict(_core(api_client).read_namespaced_pod(dev_pod.NAME, namespace))
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def read_log(api_client, namespace: str) -> str:
    """The dev container's log with the kubelet's timestamps; "" when it cannot be read (a
    pod still pulling its image, a node already gone)."""
    from kubernetes.client.rest import ApiException

    try:
        resp = _core(api_client).read_namespaced_pod_log(
            dev_pod.NAME,
            namespace,
            container=dev_pod.CONTAINER,
            timestamps=True,
            _preload_content=False,
        )
        return resp.data.decode("utf-8", errors="replace")
    except ApiException:
        return ""


def phase(pod: dict[str, Any]) -> str:
    return (pod.get("status") or {}).get("phase") or "Unknown"


def missing_message(namespace: str) -> str:
    return (
        f"no dev pod {namespace}/{dev_pod.NAME}: with trainstack:devPod.enabled true, it was "
        "stopped when idle and its node removed; `pulumi up --refresh` creates it again (a stack "
        "with another trainstack:jobsNamespace needs -n)"
    )


def not_running_message(pod: dict[str, Any], namespace: str) -> str:
    """Why connect cannot connect, and what to run."""
    ph = phase(pod)
    where = f"{namespace}/{dev_pod.NAME}"
    if ph == "Succeeded":
        return f"dev pod {where} was stopped after being idle; run `trainstack devpod start`"
    if ph == "Failed":
        return (
            f"dev pod {where} failed (`kubectl logs -n {namespace} {dev_pod.NAME}` says why); "
            "`trainstack devpod start` recreates it"
        )
    return (
        f"dev pod {where} is {ph}, not Running yet (a new GPU node and the image pull take "
        "minutes); `trainstack devpod status` shows its progress"
    )


def jupyter_token(log: str) -> str | None:
    """The token of the last login URL Jupyter printed."""
    found = TOKEN.findall(log)
    return found[-1] if found else None


def _when(stamp: str) -> datetime | None:
    # RFC 3339 with nanoseconds; fromisoformat takes at most microseconds (before 3.11: none
    # of this form at all), so the fraction is cut.
    try:
        return datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def idle_report(log: str, now: datetime | None = None) -> str | None:
    """What the idle watcher said last: idle for how long, or why the pod counts as used."""
    last = None
    for line in log.splitlines():
        if m := IDLE_LINE.match(line):
            last = m
    if last is None:
        return None
    stamp, said = last.groups()
    since = _when(stamp)
    if said == "idle" and since is not None:
        minutes = int(((now or datetime.now(timezone.utc)) - since).total_seconds() // 60)
        return f"idle for {minutes} min (no session, GPUs below the threshold)"
    if said.startswith("idle for"):  # the last line before it stopped the pod
        return f"{said} ({stamp[:19]}Z)"
    return f"in use: {said}" + (f" (since {stamp[:19]}Z)" if since else "")


def idle_stop_after(pod: dict[str, Any]) -> int | None:
    """The watcher's idle time from the pod's own startup script; None without a watcher."""
    for c in (pod.get("spec") or {}).get("containers") or []:
        if m := WATCHER_AFTER.search(" ".join(c.get("command") or [])):
            return int(m.group(1))
    return None


def _duration(seconds: int) -> str:
    h, m = divmod(seconds // 60, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m"


def status(api_client, namespace: str, out: TextIO | None = None) -> int:
    """0 when the pod exists, 1 when there is none."""
    out = out or sys.stdout
    pod = read_pod(api_client, namespace)
    if pod is None:
        print(missing_message(namespace), file=out)
        return 1
    st, spec = pod.get("status") or {}, pod.get("spec") or {}
    print(
        f"dev pod {namespace}/{dev_pod.NAME}: {phase(pod)} on node "
        f"{spec.get('nodeName') or '(not scheduled)'}"
        + (f", started {st['startTime']}" if st.get("startTime") else ""),
        file=out,
    )
    after = idle_stop_after(pod)
    print(f"idle stop: after {_duration(after)} idle" if after else "idle stop: off", file=out)
    if after and (said := idle_report(read_log(api_client, namespace))):
        print(f"idle watcher: {said}", file=out)
    if phase(pod) in ("Succeeded", "Failed"):
        print("`trainstack devpod start` starts it again", file=out)
    return 0


# ----------------------------------------------------------------------------------------- start


def recreate_body(pod: dict[str, Any]) -> dict[str, Any]:
    """The pod as a create request: its own spec and metadata without what the server set."""
    meta = {k: v for k, v in pod["metadata"].items() if k not in SERVER_METADATA}
    spec = {k: v for k, v in pod["spec"].items() if k != "nodeName"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def start(
    api_client,
    namespace: str,
    out: TextIO | None = None,
    wait_s: float = DELETE_WAIT_S,
) -> int:
    """Recreate a Succeeded or Failed dev pod; 0 when it was recreated or already runs."""
    out = out or sys.stdout
    pod = read_pod(api_client, namespace)
    if pod is None:
        raise DevPodError(missing_message(namespace))
    ph = phase(pod)
    if ph not in ("Succeeded", "Failed"):
        print(f"dev pod {namespace}/{dev_pod.NAME} is {ph}: nothing to start", file=out)
        return 0
    body = recreate_body(pod)
    core = _core(api_client)
    print(f"dev pod {namespace}/{dev_pod.NAME} is {ph}: recreating it", file=out)
    core.delete_namespaced_pod(dev_pod.NAME, namespace)
    waited = 0.0
    # A name is free only once the old object is gone, finalizers and all.
    while read_pod(api_client, namespace) is not None:
        if waited >= wait_s:
            raise DevPodError(
                f"dev pod {namespace}/{dev_pod.NAME} still exists {int(waited)} s after its "
                f"deletion; `kubectl get pod -n {namespace} {dev_pod.NAME} -o yaml` shows what "
                "holds it"
            )
        time.sleep(2)
        waited += 2
    core.create_namespaced_pod(namespace, body)
    print(
        f"created {namespace}/{dev_pod.NAME}; `trainstack devpod connect` once it runs "
        "(a new GPU node takes a few minutes)",
        file=out,
    )
    return 0


# --------------------------------------------------------------------------------------- connect


def forward_command(
    kubectl: str, namespace: str, ports: dict[int, int], kubeconfig: str | None
) -> list[str]:
    """`kubectl port-forward` of {local: pod port}."""
    cmd = [kubectl] + (["--kubeconfig", kubeconfig] if kubeconfig else [])
    return (
        cmd
        + ["port-forward", "-n", namespace, f"pod/{dev_pod.NAME}"]
        + [f"{local}:{remote}" for local, remote in ports.items()]
    )


def wait_for_interrupt(proc: subprocess.Popen) -> int:
    """Until Ctrl-C (KeyboardInterrupt) or the port-forward ending on its own."""
    return proc.wait()


def connect(
    api_client,
    namespace: str,
    *,
    kubeconfig: str | None,
    ssh_port: int,
    jupyter_port: int,
    out: TextIO | None = None,
) -> int:
    """Forward the pod's ssh and Jupyter ports and print their addresses until Ctrl-C."""
    out = out or sys.stdout
    pod = read_pod(api_client, namespace)
    if pod is None:
        raise DevPodError(missing_message(namespace))
    if phase(pod) != "Running":
        raise DevPodError(not_running_message(pod, namespace))
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise DevPodError(
            "kubectl is not on PATH; install it (https://kubernetes.io/docs/tasks/tools/) "
            "to forward the dev pod's ports",
            code=2,
        )
    served = {
        p.get("name"): p["containerPort"]
        for c in pod["spec"]["containers"]
        for p in c.get("ports") or []
    }
    ports = {}
    if "ssh" in served:
        ports[ssh_port] = served["ssh"]
    if "jupyter" in served:
        ports[jupyter_port] = served["jupyter"]
    return port_forward.hold(
        forward_command(kubectl, namespace, ports, kubeconfig),
        lambda proc: _forwarding(
            proc, api_client, namespace, ports, served, ssh_port, jupyter_port, out
        ),
        out,
    )


def _forwarding(proc, api_client, namespace, ports, served, ssh_port, jupyter_port, out) -> int:
    assert proc.stdout is not None
    waiting = {f":{local} " for local in ports}
    seen = []
    while waiting:
        line = proc.stdout.readline()
        if not line:  # kubectl ended before forwarding (its error went to stderr)
            proc.wait()
            raise DevPodError(
                f"kubectl port-forward exited with status {proc.returncode} before forwarding"
                + (f": {' '.join(seen)}" if seen else "")
            )
        seen.append(line.strip())
        waiting = {w for w in waiting if not (line.startswith("Forwarding from") and w in line)}
    # kubectl prints a line per connection; unread, a full pipe would stall it.
    threading.Thread(target=lambda: proc.stdout.read(), daemon=True).start()
    if "ssh" in served:
        print(f"ssh:     ssh -p {ssh_port} {dev_pod.USER}@localhost", file=out)
    if "jupyter" in served:
        token = jupyter_token(read_log(api_client, namespace))
        url = f"http://localhost:{jupyter_port}/lab"
        print(
            f"Jupyter: {url}?token={token}"
            if token
            else f"Jupyter: {url} (token: `kubectl logs -n {namespace} {dev_pod.NAME} "
            "| grep token=`)",
            file=out,
        )
    print("forwarding; Ctrl-C stops", file=out, flush=True)
    code = wait_for_interrupt(proc)
    print(f"kubectl port-forward ended (status {code})", file=out)
    return 1
