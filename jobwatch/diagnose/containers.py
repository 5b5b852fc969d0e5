"""Rules for what a rank died of inside its container: GPU memory, the container's memory limit,
shared memory, or an exit code nothing more specific explains. Stdlib only, like the whole
package, so the trainer image can run it."""

from __future__ import annotations

import re

from .inputs import Found, Inputs, clip, waiting_of, where

CUDA_OOM_RE = re.compile(
    r"CUDA out of memory|torch\.OutOfMemoryError|"
    r"CUDA error: out of memory|CUBLAS_STATUS_ALLOC_FAILED"
)


def cuda_oom(x: Inputs) -> Found:
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
        clip(line),
    )


def oom_killed(x: Inputs) -> Found:
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
                    f"{where(pod)}container {cs.get('name')}: {state}.terminated.reason "
                    f"OOMKilled, exitCode {term.get('exitCode')}",
                )
    return None


SHM_RE = re.compile(
    r"Bus error|out of shared memory|insufficient shared memory|"
    r"shared memory segment /dev/shm",
    re.I,
)


def shm(x: Inputs) -> Found:
    line = x.first_line(SHM_RE)
    if line is None:
        return None
    return (
        "a process ran out of shared memory (/dev/shm): data loader workers and NCCL "
        "exchange tensors through it",
        "raise trainstack:trainingJobs.<job>.shmSize (e.g. 16Gi) and `pulumi up`",
        clip(line),
    )


# The trainer's permanent exit codes (trainer/exit_codes.py, which this stdlib package does
# not import): under restartPolicy ExitCode the operator fails the job on them at once.
PERMANENT_EXITS = {
    2: (
        "the trainer rejected its configuration (exit code 2): the job failed at once, since "
        "a restart would read the same configuration",
        "the log's `trainer:` line names the setting; fix it in "
        "trainstack:trainingJobs.<job>.args (or the job's other keys) and `pulumi up`",
    ),
    3: (
        "the loss or a gradient became non-finite (exit code 3): the job failed at once, since "
        "a restart would resume from the last checkpoint and replay the same steps",
        "lower the learning rate or raise warm-up in trainstack:trainingJobs.<job>.args "
        "(optim.*), or check the data; the log's `trainer: error:` line names the step",
    ),
    4: (
        "the pod failed more than backoffLimit times in a row, each time with a retryable "
        "code, without a new checkpoint in between (exit code 4 from trainer.launch): the job "
        "failed at once instead of being recreated again, since the operator does not count "
        "these restarts itself",
        "`trainstack logs <job>` shows the last attempt: its `trainer.launch:` line lists "
        "each attempt's exit code (137 a kill or host memory, 139 a crash, 200 an exception "
        "such as an NCCL or rendezvous error) and the lines above it the cause; the earlier "
        "attempts' pods and logs were deleted when they were recreated, so follow a relaunch "
        "with `trainstack logs <job> -f`. Fix the cause and relaunch; for failures that come "
        "and go, raise trainstack:trainingJobs.<job>.backoffLimit",
    ),
}


def permanent_exit(x: Inputs) -> Found:
    for pod, cs in x.containers():
        for state in ("state", "lastState"):
            term = (cs.get(state) or {}).get("terminated") or {}
            code = term.get("exitCode")
            if code in PERMANENT_EXITS:
                summary, remedy = PERMANENT_EXITS[code]
                return (
                    summary,
                    remedy,
                    f"{where(pod)}container {cs.get('name')}: {state}.terminated exitCode {code}",
                )
    return None


def container_failed(x: Inputs) -> Found:
    for pod, cs in x.containers():
        waiting = waiting_of(cs)
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
                    "segmentation fault, 200 a failure trainer.launch retries (an exception "
                    "in a rank, a lost peer)",
                    f"{where(pod)}container {cs.get('name')}: {state}.terminated "
                    f"{term.get('reason') or ''} exitCode {code}",
                )
    return None
