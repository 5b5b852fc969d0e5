"""Rules for the network between ranks: NCCL on TCP sockets where EFA was meant, a rendezvous
not every worker reached, collective timeouts and NCCL errors (often the echo of a rank that
died of something else). Stdlib only, like the whole package, so the trainer image can run it."""

from __future__ import annotations

import re

from .inputs import Found, Inputs, clip

EFA_OK_RE = re.compile(r"NET/OFI Selected provider is efa|Using network (AWS )?Libfabric")
SOCKET_RE = re.compile(r"Using network Socket|NET/Socket : Using")
OFI_FAILED_RE = re.compile(
    r"NET/OFI.*(fail|Unable|error)|Failed to initialize .*NET plugin|"
    r"libnccl-net\.so.*(No such file|not found)",
    re.I,
)


def efa_fallback(x: Inputs) -> Found:
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
        clip(line),
    )


RDZV_RE = re.compile(
    r"RendezvousTimeoutError|failed to join the rendezvous|"
    r"RendezvousClosedError|DistStoreError: Timed out|"
    r"timed out after \d+\S* while trying to connect to",
    re.I,
)


def rendezvous(x: Inputs) -> Found:
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
        clip(line),
    )


# Case-sensitive on purpose: every healthy run logs "ProcessGroupNCCL initialization options:
# ... TIMEOUT(ms): 600000", which a loose "timeout" match would flag.
NCCL_TIMEOUT_RE = re.compile(
    r"Watchdog caught collective operation timeout|"
    r"ran for \d+ milliseconds before timing out|"
    r"NCCL operations have failed or timed out|"
    r"ProcessGroupNCCL.*timed out"
)


def nccl_timeout(x: Inputs) -> Found:
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
        clip(line),
    )


NCCL_ERROR_RE = re.compile(
    r"NCCL WARN|ncclSystemError|ncclInternalError|ncclRemoteError|"
    r"ncclUnhandledCudaError|NCCL error"
)


def nccl_error(x: Inputs) -> Found:
    line = x.first_line(NCCL_ERROR_RE)
    if line is None:
        return None
    return (
        "NCCL reported a warning or error: a peer went away, a connection failed, or a CUDA "
        "error occurred under a collective",
        "read the NCCL WARN lines and those before them; set trainstack:trainingJobs.<job>."
        "ncclDebug: INFO for the transport and ring setup, and check the security group lets "
        "nodes reach each other on all ports",
        clip(line),
    )
