"""`trainstack netcheck` against a cluster: find the stack's trainer image, apply the check's
NetworkPolicies and PyTorchJob, wait for it with progress lines, and report rank 0's table and
verdict with the check's own exit code.

The job is left in place when it ends: its TTL (components/netcheck_job.py) removes it an hour
later, so `trainstack logs`/`status` can still read it. A finished job of the same name (the last
check of this pool) is replaced; a running one is not touched.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from jobwatch.pytorchjob import CONTAINER, GROUP, PLURAL, VERSION, finished, log_pod_name, phase

from . import jobs, kube
from .job_view import format_causes, pod_problem
from .netcheck_plan import NetcheckPlan

# What trainer/netcheck.py prints on rank 0 (its PREFIX and RESULT; importing it would load torch).
PREFIX, RESULT = "trainer.netcheck:", "NETCHECK_RESULT"
EXIT_COULD_NOT_RUN = 1
# A pod that cannot pull its image never will by waiting: fail at once with the diagnosis.
HOPELESS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError"}
# Beyond the job's own activeDeadlineSeconds: the operator's time to mark it Failed.
DEADLINE_GRACE_S = 120


class NetcheckError(Exception):
    """The check could not run (no image, a check already running, a hopeless pod): exit 1."""


def _container_image(job: dict[str, Any]) -> str | None:
    for spec in (job.get("spec", {}).get("pytorchReplicaSpecs") or {}).values():
        for c in ((spec.get("template") or {}).get("spec") or {}).get("containers") or []:
            if c.get("name") == CONTAINER and c.get("image"):
                return str(c["image"])
    return None


def stack_image(api_client, namespace: str, job_names: set[str]) -> str:
    """The trainer image by digest, as the stack rendered it into one of its own PyTorchJobs
    (trainingJobs without an image of their own; every job is declared, suspended or not)."""
    from kubernetes import client

    listed = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL
    )
    for job in sorted(listed.get("items") or [], key=lambda j: j["metadata"]["name"]):
        image = _container_image(job)
        if job["metadata"]["name"] in job_names and image and "@sha256:" in image:
            return image
    raise NetcheckError(
        f"no PyTorchJob of this stack in namespace {namespace} to read the trainer image from; "
        'give it with --image "$(pulumi stack output trainerImage)"'
    )


def _apply_policy(net, policy: dict[str, Any]) -> None:
    """Create, or replace the check's own policy left by an earlier run."""
    from kubernetes.client.rest import ApiException

    meta = policy["metadata"]
    try:
        net.create_namespaced_network_policy(meta["namespace"], policy)
    except ApiException as err:
        if err.status != 409:
            raise
        old = net.read_namespaced_network_policy(meta["name"], meta["namespace"])
        body = {**policy, "metadata": {**meta, "resourceVersion": old.metadata.resource_version}}
        net.replace_namespaced_network_policy(meta["name"], meta["namespace"], body)


def _replace_finished(custom, name: str, namespace: str, out: TextIO, poll_s: float) -> None:
    """Delete the last check of this pool if it has finished, and wait until it is gone (its pods
    have the names the new job's will have); refuse while one runs."""
    from kubernetes.client import V1DeleteOptions
    from kubernetes.client.rest import ApiException

    try:
        old = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except ApiException as err:
        if err.status == 404:
            return
        raise
    if not finished(old):
        raise NetcheckError(
            f"PyTorchJob {namespace}/{name} is still {phase(old)}: a check of this pool is "
            f"running (`trainstack logs {name} -n {namespace} -f`)"
        )
    print(f"trainstack netcheck: replacing the finished {name} ({phase(old)})", file=out)
    custom.delete_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        name,
        body=V1DeleteOptions(propagation_policy="Foreground"),
    )
    for _ in range(60):
        try:
            custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as err:
            if err.status == 404:
                return
            raise
        time.sleep(poll_s)
    raise NetcheckError(f"the finished {name} is still being deleted; try again in a minute")


def launch(api_client, plan: NetcheckPlan, out: TextIO, poll_s: float = 2.0) -> None:
    from kubernetes import client

    custom = client.CustomObjectsApi(api_client)
    job, *policies = plan.manifests
    _replace_finished(custom, plan.name, plan.namespace, out, poll_s)
    net = client.NetworkingV1Api(api_client)
    for policy in policies:  # before the pods, so their first rendezvous is already allowed
        _apply_policy(net, policy)
    custom.create_namespaced_custom_object(GROUP, VERSION, plan.namespace, PLURAL, job)


def _progress(job: dict[str, Any], pods: list) -> str:
    running = sum(1 for p in pods if p.status and p.status.phase == "Running")
    problems = sorted({why for p in pods if (why := pod_problem(p))})
    line = f"{phase(job)}, {running}/{len(pods)} pod(s) running"
    return line + (f"; {'; '.join(problems)}" if problems else "")


def _hopeless(pods: list) -> bool:
    for p in pods:
        for cs in (p.status.container_statuses or []) if p.status else []:
            waiting = cs.state.waiting if cs.state else None
            if waiting and waiting.reason in HOPELESS:
                return True
    return False


def report_lines(log: list[str]) -> tuple[list[str], dict[str, Any] | None]:
    """Rank 0's table and verdict lines (not NCCL's log around them), and its final JSON."""
    shown: list[str] = []
    result = None
    for line in log:
        if line.startswith(f"{RESULT} "):
            result = json.loads(line[len(RESULT) + 1 :])
        elif line.startswith(PREFIX) or line.startswith(("op ", "all_reduce ", "all_gather ")):
            shown.append(line)
    return shown, result


def _could_not_run(api_client, plan: NetcheckPlan, why: str, pods: list, log: list[str]) -> int:
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    names = {p.metadata.name for p in pods} | {plan.name}
    events = jobs.events_for(core.list_namespaced_event(plan.namespace).items, names)
    causes = jobs.diagnose(pods, events, "\n".join(log[-jobs.LOG_TAIL_LINES :]), plan.namespace)
    print(f"trainstack netcheck: {plan.name} could not run: {why}", file=sys.stderr)
    for line in format_causes(causes, plan.name, plan.namespace):
        print(line, file=sys.stderr)
    return EXIT_COULD_NOT_RUN


def wait_and_report(
    api_client,
    plan: NetcheckPlan,
    timeout_s: float,
    out: TextIO | None = None,
    poll_s: float = 10.0,
) -> int:
    """Follow the job until it ends; print its table and verdict; its exit code (0 passed, 5
    the network failed the check), or 1 when it could not run (with why)."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    out = out or sys.stdout
    core = client.CoreV1Api(api_client)
    deadline = time.monotonic() + timeout_s
    shown = None
    while True:
        job = jobs.get_job(api_client, plan.name, plan.namespace)
        pods = jobs.list_pods(core, job, plan.namespace)
        line = _progress(job, pods)
        if line != shown:
            print(f"trainstack netcheck: {plan.name}: {line}", file=sys.stderr)
            shown = line
        if finished(job):
            break
        if _hopeless(pods):
            return _could_not_run(api_client, plan, line, pods, [])
        if time.monotonic() >= deadline:
            return _could_not_run(api_client, plan, f"not done after {timeout_s:.0f} s", pods, [])
        time.sleep(poll_s)
    try:
        log = jobs.read_log(core, log_pod_name(job), plan.namespace, CONTAINER).splitlines()
    except ApiException as err:
        log = []
        print(f"trainstack netcheck: rank 0's log: {kube.api_message(err)}", file=sys.stderr)
    lines, result = report_lines(log)
    for line in lines:
        print(line, file=out)
    if result is None:
        return _could_not_run(
            api_client, plan, f"{phase(job)} without the check's result line", pods, log
        )
    return int(result.get("code", EXIT_COULD_NOT_RUN))
