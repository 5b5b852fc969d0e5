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
        "the GPU); the trainer stops the job (exit code 2), since a restart would fail the same "
        "way",
        "in trainstack:trainingJobs.<job>.args lower micro_batch_size (the global batch is "
        "kept by gradient accumulation) or seq_len, set parallel.activation_checkpointing: "
        "selective (or full, the least memory), or spread the model over more GPUs (more "
        "nodes / gpusPerNode) or a GPU with more memory",
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


# What the job's own pods run (components/job_command.py renders them): `python -m trainer.launch
# ... -m trainer ...` for this stack's trainer; `trainer.launch ... <script>` for a command of the
# job's own in this stack's image; plain `torchrun ... <script>` in an image of its own.
TRAINER, LAUNCHER = ("-m", "trainer"), ("-m", "trainer.launch")
SELFTEST = ("-m", "trainer.selftest")  # the EFA check at pod start (components/job_command.py)
# The exit-code policy of the trainer container of each torchrun job kind, by the name its
# operator requires: a PyTorchJob's `pytorch` replicas run under the stack's restartPolicy
# ExitCode (components/training_job.py), a TrainJob's `node` pods under its runtime's
# podFailurePolicy, drawn on the same line (components/trainjob.py). Another container (a Ray
# pod, a server) has no such policy.
EXIT_CODE_POLICIES = {
    "pytorch": "under the stack's restartPolicy ExitCode (kubeflow/trainer v1.9.3 "
    "IsRetryableExitCode)",
    "node": "under the podFailurePolicy of the stack's TrainingRuntime (FailJob on 1-127)",
}


def exit_code_policy(container: str) -> str | None:
    how = EXIT_CODE_POLICIES.get(container)
    if how is None:
        return None
    return f"{how} an exit of 1-127 fails the job at once and 128-255 recreates the pod"


def runs(words: list[str] | None, program: tuple[str, str]) -> bool:
    """Whether the words run `python -m <module>` for the module in `program`."""
    words = words or []
    return any(words[i : i + 2] == list(program) for i in range(len(words) - 1))


# The trainer's permanent exit codes (trainer/exit_codes.py, which this stdlib package does
# not import): under restartPolicy ExitCode the operator fails the job on them at once. They
# are the trainer's (2, 3) and trainer.launch's (4) own: another program's 2 means what that
# program means, so these apply only to a container that runs them.
PERMANENT_EXITS = {
    2: (
        "the trainer rejected its configuration, or hit what the same configuration hits again "
        "(a CUDA out-of-memory error, an S3 request refused with 403 or 404) (exit code 2): the "
        "job failed at once, since a restart would fail the same way",
        "the log's `trainer:` line names the setting or the error; fix it in "
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
    5: (
        "the network check before training failed (exit code 5 from trainer.netcheck): EFA was "
        "expected but NCCL carried the traffic over sockets or another libfabric provider, or "
        "the bus bandwidth was under the stated share of what the instance type promises; the "
        "job failed at once rather than train at TCP speed",
        "the log's `trainer.netcheck:` lines give the table and the transport each rank used; "
        "check the pool's EFA (its security group, the EFA device plugin, `trainstack doctor`), "
        "let the node be replaced, and relaunch",
    ),
}


# trainer/exit_codes.py EXIT_NODE_CHECK (not imported: stdlib only; a test holds them equal):
# the pod-start self-test failed on its node, and the pod is recreated (>= 128).
NODE_CHECK_EXIT = 201
NODE_CHECK_RE = re.compile(r"trainer\.selftest: node check failed")


def node_check(x: Inputs) -> Found:
    for pod, cs, state, term, words in _terminated(x):
        if term["exitCode"] != NODE_CHECK_EXIT or not runs(words, SELFTEST):
            continue
        node = x.node_of(pod)
        line = x.first_line(NODE_CHECK_RE) or x.first_line(re.compile(r"^FAIL "))
        return (
            f"the self-test at pod start failed on node {node or '(unknown)'} (exit code "
            f"{NODE_CHECK_EXIT}): that node's EFA or GPU stack did not come up; the pod is "
            "recreated, possibly on another node",
            f"if it recurs on the same node, cordon it (`kubectl cordon {node or '<node>'}`) "
            "and let Karpenter replace it; if it fails on every node, the image or the pool is "
            "at fault (the log's FAIL line names the check: `trainstack logs <job>`), and "
            "trainer.launch stops the job after trainstack:trainingJobs.<job>.backoffLimit "
            "attempts",
            f"{where(pod)}node {node or '?'}: container {cs.get('name')}: {state}.terminated "
            f"exitCode {NODE_CHECK_EXIT}" + (f"; {clip(line, 120)}" if line else ""),
        )
    return None


def _terminated(x: Inputs):
    """(pod, container status, state key, terminated state, the container's words) of every
    container that ended with a non-zero code."""
    for pod, cs in x.containers():
        for state in ("state", "lastState"):
            term = (cs.get(state) or {}).get("terminated") or {}
            if term.get("exitCode") not in (None, 0):
                yield pod, cs, state, term, x.command_of(pod, str(cs.get("name")))


def permanent_exit(x: Inputs) -> Found:
    for pod, cs, state, term, words in _terminated(x):
        code = term["exitCode"]
        ours = runs(words, TRAINER) if code in (2, 3) else runs(words, LAUNCHER)
        if code in PERMANENT_EXITS and ours:
            summary, remedy = PERMANENT_EXITS[code]
            return (
                summary,
                remedy,
                f"{where(pod)}container {cs.get('name')}: {state}.terminated exitCode {code}",
            )
    return None


def container_failed(x: Inputs) -> Found:
    for pod, cs, state, term, words in _terminated(x):
        code = term["exitCode"]
        if term.get("reason") == "OOMKilled":
            continue
        extra = (
            " (in CrashLoopBackOff)" if waiting_of(cs).get("reason") == "CrashLoopBackOff" else ""
        )
        logs = f"`kubectl logs -n {x.namespace} {pod or '<pod>'} -c {cs.get('name')} --previous`"
        evidence = (
            f"{where(pod)}container {cs.get('name')}: {state}.terminated "
            f"{term.get('reason') or ''} exitCode {code}"
        )
        if runs(words, TRAINER):
            return (
                f"the container exited with code {code}{extra}; none of the known causes "
                "matched its log tail",
                f"{logs} shows the exception; exit code 1 is an error in the program, 137 a "
                "kill (memory or eviction), 139 a segmentation fault, 200 a failure "
                "trainer.launch retries (an exception in a rank, a lost peer), 201 the "
                "pod-start node check",
                evidence,
            )
        return (
            f"the workload exited {code}{extra}; what {code} means is its own program's, and "
            "none of the known causes matched its log tail",
            f"{logs} shows what it printed; {_foreign_policy(cs, words, code)}",
            evidence,
        )
    return None


def _foreign_policy(cs: dict, words: list[str] | None, code: int) -> str:
    """What happened to the job after a workload of its own exited `code`, by what ran it."""
    policy = exit_code_policy(str(cs.get("name")))
    if policy is None:
        return "exit code 137 is a kill (memory or eviction), 139 a segmentation fault"
    if runs(words, LAUNCHER):
        # trainer/exit_codes.py pod_code: a rank's 2, 3 or 4 wins, any other error becomes 200.
        return (
            f"{policy}. trainer.launch runs the job's command: a rank's exit 2, 3 or "
            "4 is passed on and fails the job at once, any other error of a rank becomes 200 "
            "and the pod is recreated; if the script's 2, 3 or 4 means something a restart can "
            "fix, exit with another code"
        )
    if words and words[0].rsplit("/", 1)[-1] == "torchrun":
        # torch/distributed/run.py: the agent's ChildFailedError ends torchrun with 1.
        return (
            f"{policy}. The job's image runs plain torchrun, which exits 1 whatever "
            "its workers died of, so any failure of a rank fails the job at once, without a "
            "restart; to have failures retried, run the command in this stack's image (leave "
            "trainstack:trainingJobs.<job>.image unset: trainer.launch maps a rank's failure "
            "to a code that recreates the pod), or resubmit the job"
        )
    return policy
