"""Why a training job is not training: known failure causes from pods, events and a log tail.

`classify` takes what `kubectl get pods -o json`, `kubectl get events -o json` and
`kubectl logs --tail` return (the pods' and events' `items` as plain dicts, the log as text) and
names every known cause it finds, each with what it means and what to change (a stack config key or
a command). It reads nothing itself, so it works the same on live objects and on saved ones.

Causes come out most specific first: a root cause before the symptoms it produces elsewhere. A
worker that ran out of GPU memory leaves its peers in an NCCL watchdog timeout, and a NodePool at
its GPU limit leaves pods Pending and the others in a rendezvous timeout; reading the first cause
is enough in most cases.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CODES", "Cause", "classify", "format_causes"]

HF_SECRET = "hf-token"  # components.pod_spec.HF_TOKEN_SECRET; not imported to stay stdlib-only
NS = "training"  # the default trainstack:jobsNamespace, when neither caller nor pods say


@dataclass(frozen=True)
class Cause:
    code: str
    summary: str  # what it means
    remedy: str  # what to change or run
    evidence: str = ""  # the field, event or log line that matched

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


# ------------------------------------------------------------------------------- input handling


@dataclass
class _Inputs:
    # (pod name, status, spec) per pod; a bare `status` mapping is accepted too.
    pods: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    efa_expected: bool = False
    namespace: str = NS  # the job's, for the kubectl commands shown in remedies

    def containers(self) -> Iterable[tuple[str, dict[str, Any]]]:
        for name, status, _ in self.pods:
            for key in ("initContainerStatuses", "containerStatuses"):
                for cs in status.get(key) or []:
                    if isinstance(cs, dict):
                        yield name, cs

    def event_texts(self) -> Iterable[tuple[str, str, str]]:
        """(reason, message, object name) of each event."""
        for e in self.events:
            obj = e.get("involvedObject") or e.get("regarding") or {}
            yield (
                str(e.get("reason") or ""),
                str(e.get("message") or e.get("note") or ""),
                str(obj.get("name") or ""),
            )

    def scheduling_messages(self) -> Iterable[tuple[str, str]]:
        """(pod, message) of every 'cannot schedule' signal: PodScheduled False, FailedScheduling
        events (the kube-scheduler's and Karpenter's)."""
        for name, status, _ in self.pods:
            for c in status.get("conditions") or []:
                if c.get("type") == "PodScheduled" and str(c.get("status")) == "False":
                    yield name, str(c.get("message") or c.get("reason") or "")
        for reason, message, obj in self.event_texts():
            if reason == "FailedScheduling":
                yield obj, message

    def first_line(self, pattern: re.Pattern[str]) -> str | None:
        return next((line for line in self.lines if pattern.search(line)), None)


def _status_and_spec(pod: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    if isinstance(pod.get("status"), dict):
        name = str((pod.get("metadata") or {}).get("name") or "")
        return name, pod["status"], pod.get("spec") or {}
    return "", pod, {}


def _expects_efa(pods: list[tuple[str, dict[str, Any], dict[str, Any]]], lines: list[str]) -> bool:
    """Whether the job was meant to use EFA: a pod requests EFA devices or sets FI_PROVIDER=efa
    (what trainstack renders for `efa: true`). Not from NCCL's OFI lines: images with
    aws-ofi-nccl print them on every node, and on a node without EFA the socket fallback is
    right."""
    for _, _, spec in pods:
        for c in spec.get("containers") or []:
            res = c.get("resources") or {}
            if any("vpc.amazonaws.com/efa" in (res.get(k) or {}) for k in ("limits", "requests")):
                return True
            if any(
                e.get("name") == "FI_PROVIDER" and e.get("value") == "efa"
                for e in c.get("env") or []
            ):
                return True
    return any("FI_PROVIDER=efa" in line for line in lines)


def _waiting(cs: dict[str, Any]) -> dict[str, Any]:
    return (cs.get("state") or {}).get("waiting") or {}


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _where(pod: str) -> str:
    return f"pod {pod}: " if pod else ""


# ------------------------------------------------------------------------------------ detectors
# Each detector returns (summary, remedy, evidence) or None. They are listed in report order:
# configuration mistakes that stop a job outright, then capacity, then what a rank died of, then
# the collective/rendezvous timeouts that other ranks report as a consequence.

Found = tuple[str, str, str] | None

SECRET_MISSING_RE = re.compile(
    r'secret "?([\w.-]+)"? not found|'
    r"couldn't find key (\S+) in Secret [\w-]+/([\w.-]+)"
)


def _secret_missing(x: _Inputs) -> Found:
    texts = [
        (pod, str(_waiting(cs).get("message") or ""))
        for pod, cs in x.containers()
        if _waiting(cs).get("reason") == "CreateContainerConfigError"
    ]
    texts += [(obj, msg) for _, msg, obj in x.event_texts()]
    for pod, text in texts:
        m = SECRET_MISSING_RE.search(text)
        if not m:
            continue
        secret = m.group(1) or m.group(3)
        if secret == HF_SECRET:
            remedy = (
                "the stack creates this Secret from the hfToken secret: run `pulumi config "
                "set --secret trainstack:hfToken hf_...` and `pulumi up`; or, if the job "
                "needs no gated model, drop `hfToken: true` from "
                "trainstack:trainingJobs.<job>. Check: `kubectl get secret hf-token -n "
                f"{x.namespace}`"
            )
        else:
            remedy = (
                f"create Secret {secret!r} in the pod's namespace, or remove the reference "
                "(trainstack:trainingJobs.<job>.env); `kubectl get secrets -n "
                f"{x.namespace}` lists what exists"
            )
        return (
            f"the container cannot start: Secret {secret!r} (or its key) does not exist in "
            "the pod's namespace",
            remedy,
            _where(pod) + _clip(text),
        )
    return None


PULL_REASONS = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull")


def _image_pull(x: _Inputs) -> Found:
    hits = [
        (pod, f"{w.get('reason')}: {w.get('message') or ''}")
        for pod, cs in x.containers()
        if (w := _waiting(cs)).get("reason") in PULL_REASONS
    ]
    hits += [
        (obj, msg)
        for reason, msg, obj in x.event_texts()
        if reason in ("Failed", "BackOff") and re.search(r"pull(ing)? image", msg, re.I)
    ]
    if not hits:
        return None
    pod, text = hits[0]
    everything = " ".join(t for _, t in hits)
    if re.search(r"403|unauthorized|no basic auth|denied|authorization", everything, re.I):
        remedy = (
            "the node may not read the repository: the node role needs ECR read access "
            "(AmazonEC2ContainerRegistryReadOnly) and a cross-account repository a policy "
            "allowing it; check `aws ecr get-repository-policy`"
        )
    else:
        remedy = (
            "the image reference does not exist: compare it with `pulumi stack output "
            "trainerImage`, check the CodeBuild build of the trainer image succeeded "
            "(`aws codebuild list-builds-for-project`), and run `pulumi up` to rebuild and "
            "re-point the jobs; `kubectl describe pod` shows the exact pull error"
        )
    return (
        "the node cannot pull the container image, so the container never starts",
        remedy,
        _where(pod) + _clip(text),
    )


HF_AUTH_RE = re.compile(
    r"401 Client Error|Repository Not Found for url|GatedRepoError|gated repo|"
    r"Invalid user token|Invalid credentials in Authorization header|"
    r"HF_TOKEN\W.{0,40}(not set|missing|empty|invalid)|"
    r"(set|export|provide) (the |your )?HF_TOKEN|Access to model .* is restricted",
    re.I,
)


def _hf_auth(x: _Inputs) -> Found:
    line = x.first_line(HF_AUTH_RE)
    if line is None:
        return None
    gated = re.search(r"gated|restricted", line, re.I)
    what = (
        "the model is gated: the token's account has not been granted access"
        if gated
        else "Hugging Face refused the download: no token, an invalid one, or a "
        "repository name that does not exist (private and missing look alike without a token)"
    )
    return (
        what,
        "set the token with `pulumi config set --secret trainstack:hfToken hf_...`, add "
        "`hfToken: true` to trainstack:trainingJobs.<job> and `pulumi up`; for a gated model "
        "accept its license on huggingface.co with the token's account; check the model name "
        "in the job's args",
        _clip(line),
    )


LIMIT_RE = re.compile(
    r"exceed(s|ed)? (the )?limits?|limits? (exceeded|reached)|"
    r"nodepool\W+[\w-]+\W+.{0,40}limit",
    re.I,
)
# Karpenter lists every pool it tried ('incompatible with nodepool "small", ...'): the one at
# its limit is the one named after "limits for nodepool".
LIMIT_POOL_RE = re.compile(r'limits? for nodepool\W{1,3}"?([a-z0-9][a-z0-9-]*)"?', re.I)
POOL_RE = re.compile(r'nodepool\W{1,3}"?([a-z0-9][a-z0-9-]*)"?', re.I)


def _nodepool_limit(x: _Inputs) -> Found:
    for pod, msg in list(x.scheduling_messages()) + [(o, m) for _, m, o in x.event_texts()]:
        if hit := LIMIT_RE.search(msg):
            m = LIMIT_POOL_RE.search(msg) or POOL_RE.search(msg)
            pool = m.group(1) if m else "<pool>"
            # Karpenter's message leads with every other pool it rejected: show the limit part.
            shown = ("..." if hit.start() > 80 else "") + msg[max(0, hit.start() - 80) :]
            return (
                f"Karpenter will not launch another node: NodePool {pool!r} is at its GPU "
                "(or node) limit, so pods wait Pending",
                f"raise trainstack:karpenter.nodePools.{pool}.maxGpus (and maxNodes) and "
                "`pulumi up`, or ask for fewer nodes x gpusPerNode in the job; "
                f"`kubectl get nodepool {pool} -o jsonpath='{{.status.resources}}'` shows "
                "what it already runs",
                _where(pod) + _clip(shown),
            )
    return None


QUOTA_RE = re.compile(
    r"VcpuLimitExceeded|MaxSpotInstanceCountExceeded|"
    r"exceeded your (current )?quota|PendingVerification",
    re.I,
)
CAPACITY_RE = re.compile(
    r"InsufficientInstanceCapacity|insufficient capacity|"
    r"UnfulfillableCapacity|InsufficientCapacity",
    re.I,
)


def _quota(x: _Inputs) -> Found:
    for reason, msg, obj in x.event_texts():
        if QUOTA_RE.search(msg) or QUOTA_RE.search(reason):
            return (
                "EC2 refused the instance: the account's vCPU quota for this instance class "
                "(G and VT / P, on-demand or spot) is used up",
                "request more in Service Quotas ('Running On-Demand G and VT instances', "
                "'All G and VT Spot Instance Requests', counted in vCPUs), or lower the "
                "pool's maxGpus / the group's maxSize to what the quota allows",
                _where(obj) + _clip(msg),
            )
    return None


def _capacity(x: _Inputs) -> Found:
    for reason, msg, obj in x.event_texts():
        if CAPACITY_RE.search(msg) or CAPACITY_RE.search(reason):
            return (
                "AWS has no free capacity of the requested GPU type in the zones tried; "
                "the node is not launched (Karpenter retries, a managed group keeps failing)",
                "allow more types in the pool (trainstack:karpenter.nodePools.<pool>."
                "instanceFamilies / instanceTypes), add the other capacity type "
                "(capacityTypes: [spot, on-demand]), spread over more zones "
                "(trainstack:network.azCount; not for EFA groups, which sit in one zone), or "
                "reserve capacity (On-Demand Capacity Reservation, Capacity Block)",
                _where(obj) + _clip(msg),
            )
    return None


def _spot_interrupted(x: _Inputs) -> Found:
    for reason, msg, obj in x.event_texts():
        if re.search(r"SpotInterrupt", reason) or re.search(r"spot interruption", msg, re.I):
            return (
                "EC2 reclaimed a spot node; its pods were killed and the job restarts from "
                "its last checkpoint",
                "expected on spot: keep args checkpoint.interval short enough to lose little; "
                "for runs that must not be interrupted use a pool with capacityTypes: "
                "[on-demand]",
                _where(obj) + _clip(msg),
            )
    return None


def _unschedulable(x: _Inputs, pattern: str) -> tuple[str, str] | None:
    """(pod, message) of the first 'cannot schedule' signal matching `pattern`."""
    return next(((p, m) for p, m in x.scheduling_messages() if re.search(pattern, m)), None)


def _efa_unschedulable(x: _Inputs) -> Found:
    hit = _unschedulable(x, r"Insufficient vpc\.amazonaws\.com/efa")
    if hit is None:
        return None
    return (
        "no node offers free EFA devices: the pods request vpc.amazonaws.com/efa",
        "run the job on an EFA pool (efa: true with EFA sizes, 8xlarge and up for g4dn/g5/g6) "
        "and keep trainstack:addons.efaDevicePlugin enabled; `kubectl get nodes -o "
        "custom-columns=NAME:.metadata.name,EFA:.status.allocatable.vpc\\.amazonaws\\.com/efa`"
        " shows which nodes advertise EFA",
        _where(hit[0]) + _clip(hit[1]),
    )


def _gpu_unschedulable(x: _Inputs) -> Found:
    hit = _unschedulable(x, r"Insufficient nvidia\.com/gpu")
    if hit is None:
        return None
    return (
        "no node has enough free GPUs for the pod; it stays Pending until a node with GPUs "
        "joins (Karpenter pools launch one; managed groups only up to maxSize)",
        "on a Karpenter pool, see `kubectl get nodeclaims` and the Karpenter logs for why no "
        "node starts; on a managed group raise trainstack:nodeGroups.<group>.maxSize (and "
        "minSize to keep nodes up); if GPU nodes exist but show no nvidia.com/gpu, the NVIDIA "
        "device plugin is not running (trainstack:addons.nvidiaDevicePlugin)",
        _where(hit[0]) + _clip(hit[1]),
    )


def _other_unschedulable(x: _Inputs) -> Found:
    for pod, msg in x.scheduling_messages():
        if not re.search(r"Insufficient (nvidia\.com/gpu|vpc\.amazonaws\.com/efa)|exceed", msg):
            return (
                "the scheduler cannot place the pod: " + _clip(msg, 120),
                "read the reasons after '0/N nodes are available': node selector or taint "
                "mismatches mean the job names a pool no node belongs to "
                "(trainstack:trainingJobs.<job>.nodePool); Insufficient cpu/memory means the "
                "job's cpu/memory ask exceeds the instance",
                _where(pod) + _clip(msg),
            )
    return None


CUDA_OOM_RE = re.compile(
    r"CUDA out of memory|torch\.OutOfMemoryError|"
    r"CUDA error: out of memory|CUBLAS_STATUS_ALLOC_FAILED"
)


def _cuda_oom(x: _Inputs) -> Found:
    line = x.first_line(CUDA_OOM_RE)
    if line is None:
        return None
    return (
        "a rank ran out of GPU memory (activations, parameters or optimizer state do not fit "
        "the GPU)",
        "in trainstack:trainingJobs.<job>.args lower micro_batch_size (the global batch is "
        "kept by gradient accumulation) or seq_len, set parallel.activation_checkpointing: "
        "true, or spread the model over more GPUs (more nodes / gpusPerNode) or a GPU with "
        "more memory",
        _clip(line),
    )


def _oom_killed(x: _Inputs) -> Found:
    for pod, cs in x.containers():
        for state in ("state", "lastState"):
            term = (cs.get(state) or {}).get("terminated") or {}
            if term.get("reason") == "OOMKilled":
                return (
                    "the kernel killed the container for using more host memory than its "
                    "limit (exit code 137): CPU RAM, not GPU memory",
                    "raise trainstack:trainingJobs.<job>.memory (the container limit), or "
                    "load less into host memory (fewer data loader workers, smaller shuffle "
                    "buffers); `kubectl describe pod` shows the limit",
                    f"{_where(pod)}container {cs.get('name')}: {state}.terminated.reason "
                    f"OOMKilled, exitCode {term.get('exitCode')}",
                )
    return None


SHM_RE = re.compile(
    r"Bus error|out of shared memory|insufficient shared memory|"
    r"shared memory segment /dev/shm",
    re.I,
)


def _shm(x: _Inputs) -> Found:
    line = x.first_line(SHM_RE)
    if line is None:
        return None
    return (
        "a process ran out of shared memory (/dev/shm): data loader workers and NCCL "
        "exchange tensors through it",
        "raise trainstack:trainingJobs.<job>.shmSize (e.g. 16Gi) and `pulumi up`",
        _clip(line),
    )


EFA_OK_RE = re.compile(r"NET/OFI Selected provider is efa|Using network (AWS )?Libfabric")
SOCKET_RE = re.compile(r"Using network Socket|NET/Socket : Using")
OFI_FAILED_RE = re.compile(
    r"NET/OFI.*(fail|Unable|error)|Failed to initialize .*NET plugin|"
    r"libnccl-net\.so.*(No such file|not found)",
    re.I,
)


def _efa_fallback(x: _Inputs) -> Found:
    if not x.efa_expected or x.first_line(EFA_OK_RE) is not None:
        return None
    line = x.first_line(SOCKET_RE) or x.first_line(OFI_FAILED_RE)
    if line is None:
        return None
    return (
        "NCCL is using TCP sockets instead of EFA: inter-node collectives run several times "
        "slower and may time out",
        "the pod must request vpc.amazonaws.com/efa on an EFA node: set efa: true on the job "
        "and its pool (trainstack:karpenter.nodePools.<pool>.efa or nodeGroups.<group>.efa), "
        "keep trainstack:addons.efaDevicePlugin enabled, and use an image with libfabric and "
        "aws-ofi-nccl; with ncclDebug: INFO the log must show 'NET/OFI Selected provider is "
        "efa'",
        _clip(line),
    )


RDZV_RE = re.compile(
    r"RendezvousTimeoutError|failed to join the rendezvous|"
    r"RendezvousClosedError|DistStoreError: Timed out|"
    r"timed out after \d+\S* while trying to connect to",
    re.I,
)


def _rendezvous(x: _Inputs) -> Found:
    line = x.first_line(RDZV_RE)
    if line is None:
        return None
    return (
        "not every worker reached the torchrun rendezvous in time: usually a worker pod is "
        "still Pending (no GPU node) or cannot reach worker 0",
        f"`kubectl get pods -n {x.namespace} -l training.kubeflow.org/job-name=<job>` "
        "shows which worker is missing; fix its scheduling cause (see the other causes), or "
        "for an elastic job lower trainstack:trainingJobs.<job>.minNodes to what the pool "
        "can run",
        _clip(line),
    )


# Case-sensitive on purpose: every healthy run logs "ProcessGroupNCCL initialization options:
# ... TIMEOUT(ms): 600000", which a loose "timeout" match would flag.
NCCL_TIMEOUT_RE = re.compile(
    r"Watchdog caught collective operation timeout|"
    r"ran for \d+ milliseconds before timing out|"
    r"NCCL operations have failed or timed out|"
    r"ProcessGroupNCCL.*timed out"
)


def _nccl_timeout(x: _Inputs) -> Found:
    line = x.first_line(NCCL_TIMEOUT_RE)
    if line is None:
        return None
    return (
        "a collective did not complete within the timeout: another rank died, stalled or "
        "cannot reach this one; this rank is the messenger, not the culprit",
        f"read every worker's log (`kubectl logs -n {x.namespace} <job>-worker-N "
        "--previous`) for the rank that failed first (CUDA OOM, an exception, a lost "
        "node); if a step is legitimately slow (a large checkpoint save) raise args "
        "parallel.timeout_s",
        _clip(line),
    )


NCCL_ERROR_RE = re.compile(
    r"NCCL WARN|ncclSystemError|ncclInternalError|ncclRemoteError|"
    r"ncclUnhandledCudaError|NCCL error"
)


def _nccl_error(x: _Inputs) -> Found:
    line = x.first_line(NCCL_ERROR_RE)
    if line is None:
        return None
    return (
        "NCCL reported a warning or error: a peer went away, a connection failed, or a CUDA "
        "error occurred under a collective",
        "read the NCCL WARN lines and those before them; set trainstack:trainingJobs.<job>."
        "ncclDebug: INFO for the transport and ring setup, and check the security group lets "
        "nodes reach each other on all ports",
        _clip(line),
    )


def _container_failed(x: _Inputs) -> Found:
    for pod, cs in x.containers():
        waiting = _waiting(cs)
        for state in ("state", "lastState"):
            term = (cs.get(state) or {}).get("terminated") or {}
            code = term.get("exitCode")
            if code not in (None, 0) and term.get("reason") != "OOMKilled":
                extra = (
                    " (in CrashLoopBackOff)" if waiting.get("reason") == "CrashLoopBackOff" else ""
                )
                return (
                    f"the container exited with code {code}{extra}; none of the known causes "
                    "matched its log tail",
                    f"`kubectl logs -n {x.namespace} {pod or '<pod>'} -c "
                    f"{cs.get('name')} --previous` shows the exception; exit code 1 is an "
                    "error in the program, 137 a kill (memory or eviction), 139 a "
                    "segmentation fault",
                    f"{_where(pod)}container {cs.get('name')}: {state}.terminated "
                    f"{term.get('reason') or ''} exitCode {code}",
                )
    return None


# (code, detector) in report order: most specific first.
DETECTORS: tuple[tuple[str, Callable[[_Inputs], Found]], ...] = (
    ("SECRET_MISSING", _secret_missing),
    ("IMAGE_PULL", _image_pull),
    ("HF_AUTH", _hf_auth),
    ("NODEPOOL_LIMIT", _nodepool_limit),
    ("GPU_QUOTA", _quota),
    ("INSUFFICIENT_CAPACITY", _capacity),
    ("SPOT_INTERRUPTED", _spot_interrupted),
    ("EFA_UNSCHEDULABLE", _efa_unschedulable),
    ("GPU_UNSCHEDULABLE", _gpu_unschedulable),
    ("UNSCHEDULABLE", _other_unschedulable),
    ("CUDA_OOM", _cuda_oom),
    ("OOM_KILLED", _oom_killed),
    ("SHM_EXHAUSTED", _shm),
    ("EFA_FALLBACK_TCP", _efa_fallback),
    ("RENDEZVOUS_TIMEOUT", _rendezvous),
    ("NCCL_TIMEOUT", _nccl_timeout),
    ("NCCL_ERROR", _nccl_error),
    ("CONTAINER_FAILED", _container_failed),
)
CODES: tuple[str, ...] = tuple(code for code, _ in DETECTORS)
# Reported only when nothing more specific explains the failure: they restate what a specific
# cause already says (an NCCL WARN next to its timeout, an exit code next to its reason).
FALLBACKS = {
    "NCCL_ERROR": (
        "HF_AUTH",
        "CUDA_OOM",
        "SHM_EXHAUSTED",
        "EFA_FALLBACK_TCP",
        "RENDEZVOUS_TIMEOUT",
        "NCCL_TIMEOUT",
    ),
    "CONTAINER_FAILED": CODES[:-1],
}


def classify(
    pod_statuses: list[dict[str, Any]],
    events: list[dict[str, Any]],
    log_tail: str,
    *,
    efa_expected: bool | None = None,
    namespace: str | None = None,
) -> list[Cause]:
    """Every known cause in the inputs, most specific first; [] when nothing is wrong.

    `pod_statuses`: Pod objects (or their `status` alone) as the API returns them; `events`:
    Event objects (core/v1 or events.k8s.io/v1); `log_tail`: the last lines of the job's logs.
    `efa_expected`: whether the job should use EFA; None infers it from the pods and the log.
    `namespace`: the job's, for the commands in remedies; None takes the pods' own.
    """
    pods = [_status_and_spec(p) for p in pod_statuses or [] if isinstance(p, dict)]
    lines = (log_tail or "").splitlines()
    namespace = namespace or next(
        (
            str(p["metadata"]["namespace"])
            for p in pod_statuses or []
            if isinstance(p, dict) and (p.get("metadata") or {}).get("namespace")
        ),
        NS,
    )
    x = _Inputs(
        pods=pods,
        events=[e for e in events or [] if isinstance(e, dict)],
        lines=lines,
        efa_expected=_expects_efa(pods, lines) if efa_expected is None else efa_expected,
        namespace=namespace,
    )
    found: list[Cause] = []
    for code, detect in DETECTORS:
        if code in FALLBACKS and any(c.code in FALLBACKS[code] for c in found):
            continue
        hit = detect(x)
        if hit is not None:
            found.append(Cause(code, *hit))
    return found


def format_causes(causes: list[Cause]) -> str:
    if not causes:
        return "No known failure cause found in the pods, events and log tail."
    out = []
    for n, c in enumerate(causes, 1):
        out += [f"{n}. [{c.code}] {c.summary}", f"   fix: {c.remedy}"]
        if c.evidence:
            out.append(f"   seen: {c.evidence}")
    return "\n".join(out)
