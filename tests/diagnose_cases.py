"""The classifier's table of cases: (id, pods, events, log tail, the causes expected, in order)
for every known failure, and inputs of healthy jobs that must give no cause."""

from diagnose_support import (
    CRASH_LOG,
    CUDA_OOM_LOG,
    EFA_HEALTHY_LOG,
    EFA_SOCKET_LOG,
    EFA_SPEC,
    HEALTHY_LOG,
    HF_401_LOG,
    HF_GATED_LOG,
    HF_MISSING_LOG,
    ICE,
    IMAGE,
    KARPENTER_LIMIT,
    NCCL_TIMEOUT_LOG,
    NCCL_WARN_LOG,
    NO_EFA,
    NO_GPU,
    NO_MATCH,
    NODE_CHECK_LOG,
    NODE_CHECK_SPEC,
    OFI_FAILED_LOG,
    PULL_403,
    PULL_NOT_FOUND,
    QUOTA,
    RDZV_LOG,
    S3_403_LOG,
    SHM_LOG,
    STORE_LOG,
    crashed,
    event,
    pod,
    running,
    unscheduled,
    waiting,
)

# (id, pods, events, log tail, the causes expected, in order)
CASES = [
    (
        "hf-secret-missing",
        [pod(containers=[waiting("CreateContainerConfigError", 'secret "hf-token" not found')])],
        [event("Failed", 'Error: secret "hf-token" not found', component="kubelet")],
        "",
        ["SECRET_MISSING"],
    ),
    (
        "hf-secret-key-missing",
        [pod(containers=[waiting("CreateContainerConfigError", "")])],
        [
            event(
                "Failed",
                "Error: couldn't find key token in Secret training/hf-token",
                component="kubelet",
            )
        ],
        "",
        ["SECRET_MISSING"],
    ),
    (
        "image-not-found",
        [pod(phase="Pending", containers=[waiting("ErrImagePull", PULL_NOT_FOUND)])],
        [event("Failed", f'Failed to pull image "{IMAGE}": {PULL_NOT_FOUND}', component="kubelet")],
        "",
        ["IMAGE_PULL"],
    ),
    (
        "image-forbidden",
        [
            pod(
                phase="Pending",
                containers=[waiting("ImagePullBackOff", f'Back-off pulling image "{IMAGE}"')],
            )
        ],
        [event("Failed", f'Failed to pull image "{IMAGE}": {PULL_403}', component="kubelet")],
        "",
        ["IMAGE_PULL"],
    ),
    ("hf-401", [pod(containers=[crashed("Error", 1)])], [], HF_401_LOG, ["HF_AUTH"]),
    ("hf-gated", [], [], HF_GATED_LOG, ["HF_AUTH"]),
    ("hf-repo-not-found", [], [], HF_MISSING_LOG, ["HF_AUTH"]),
    (
        "nodepool-limit",
        [pod(name="llama-1b-worker-3", phase="Pending", conditions=unscheduled(NO_GPU))],
        [
            event("FailedScheduling", NO_GPU, name="llama-1b-worker-3"),
            event(
                "FailedScheduling", KARPENTER_LIMIT, name="llama-1b-worker-3", component="karpenter"
            ),
        ],
        RDZV_LOG,
        ["NODEPOOL_LIMIT", "GPU_UNSCHEDULABLE", "RENDEZVOUS_TIMEOUT"],
    ),
    (
        "ec2-capacity",
        [pod(phase="Pending", conditions=unscheduled(NO_GPU))],
        [
            event(
                "InsufficientCapacityError",
                f"NodeClaim large-x9k2p event: {ICE}",
                kind="NodeClaim",
                name="large-x9k2p",
                component="karpenter",
            )
        ],
        "",
        ["INSUFFICIENT_CAPACITY", "GPU_UNSCHEDULABLE"],
    ),
    (
        "gpu-quota",
        [],
        [event("LaunchFailed", QUOTA, kind="NodeClaim", name="small-4mz8q", component="karpenter")],
        "",
        ["GPU_QUOTA"],
    ),
    (
        "spot-reclaimed",
        [],
        [
            event(
                "SpotInterrupted",
                "Node ip-10-42-19-7.us-west-2.compute.internal event: A spot "
                "interruption warning was triggered for the node",
                kind="Node",
                name="ip-10-42-19-7.us-west-2.compute.internal",
                component="karpenter",
            )
        ],
        "",
        ["SPOT_INTERRUPTED"],
    ),
    (
        # The pod's node was deleted under it (node repair replaced it): the pod garbage
        # collector marks it Failed with this condition before deleting it (kubernetes
        # pkg/controller/podgc/gc_controller.go gcOrphaned). Its container never ended.
        "node-gone-pod-gc",
        [
            pod(
                phase="Failed",
                containers=[running()],
                conditions=[
                    {
                        "type": "DisruptionTarget",
                        "status": "True",
                        "reason": "DeletionByPodGC",
                        "message": "PodGC: node no longer exists",
                        "lastTransitionTime": "2026-11-25T09:31:40Z",
                    }
                ],
                spec={
                    "nodeName": "ip-10-42-19-7.us-west-2.compute.internal",
                    "containers": [{"name": "pytorch", "image": IMAGE}],
                },
            )
        ],
        [],
        "",
        ["NODE_UNHEALTHY"],
    ),
    (
        "no-free-gpu-condition-only",
        [pod(phase="Pending", conditions=unscheduled(NO_GPU))],
        [],
        "",
        ["GPU_UNSCHEDULABLE"],
    ),
    (
        "no-efa-device",
        [pod(phase="Pending", conditions=unscheduled(NO_EFA), spec=EFA_SPEC)],
        [event("FailedScheduling", NO_EFA, name="llama-1b-worker-0")],
        "",
        ["EFA_UNSCHEDULABLE"],
    ),
    (
        "wrong-pool-selector",
        [pod(phase="Pending", conditions=unscheduled(NO_MATCH))],
        [],
        "",
        ["UNSCHEDULABLE"],
    ),
    (
        "cuda-oom-then-peer-timeout",
        [pod(containers=[crashed("Error", 1)])],
        [],
        CUDA_OOM_LOG,
        ["CUDA_OOM", "NCCL_TIMEOUT"],
    ),
    ("host-oom-killed", [pod(containers=[crashed("OOMKilled", 137)])], [], "", ["OOM_KILLED"]),
    ("shm-bus-error", [pod(containers=[crashed("Error", 1)])], [], SHM_LOG, ["SHM_EXHAUSTED"]),
    (
        "efa-fell-back-to-socket",
        [pod(name="llama-8b-worker-1", spec=EFA_SPEC, containers=[running()])],
        [],
        EFA_SOCKET_LOG,
        ["EFA_FALLBACK_TCP"],
    ),
    ("nccl-watchdog", [], [], NCCL_TIMEOUT_LOG, ["NCCL_TIMEOUT"]),
    ("nccl-warn", [], [], NCCL_WARN_LOG, ["NCCL_ERROR"]),
    ("rendezvous-timeout", [], [], RDZV_LOG, ["RENDEZVOUS_TIMEOUT"]),
    ("store-connect-timeout", [], [], STORE_LOG, ["RENDEZVOUS_TIMEOUT"]),
    ("unknown-crash", [pod(containers=[crashed("Error", 1)])], [], CRASH_LOG, ["CONTAINER_FAILED"]),
    # trainer.launch carries the trainer's permanent codes to the pod (trainer/exit_codes.py).
    ("bad-config", [pod(containers=[crashed("Error", 2)])], [], "", ["PERMANENT_EXIT"]),
    ("non-finite-loss", [pod(containers=[crashed("Error", 3)])], [], "", ["PERMANENT_EXIT"]),
    ("crash-loop", [pod(containers=[crashed("Error", 4)])], [], "", ["PERMANENT_EXIT"]),
    ("retryable-crash", [pod(containers=[crashed("Error", 200)])], [], "", ["CONTAINER_FAILED"]),
    # The EFA check at pod start failed on its node: 201, the pod is recreated (node_check.py).
    (
        "node-check",
        [pod(containers=[crashed("Error", 201)], spec=NODE_CHECK_SPEC)],
        [],
        NODE_CHECK_LOG,
        ["NODE_CHECK_FAILED"],
    ),  # fmt: skip
    # The trainer's own line for an S3 4xx, which it exits 2 on (trainer/permanent_errors.py).
    (
        "s3-403",
        [pod(containers=[crashed("Error", 2)])],
        [],
        S3_403_LOG,
        ["S3_REFUSED", "PERMANENT_EXIT"],
    ),  # fmt: skip
]


HEALTHY = [
    (
        "running-job",
        [
            pod(
                containers=[running()],
                conditions=[
                    {"type": "PodScheduled", "status": "True"},
                    {"type": "Ready", "status": "True"},
                ],
            )
        ],
        [
            event(
                "Scheduled",
                "Successfully assigned training/llama-1b-worker-0 to "
                "ip-10-42-17-88.us-west-2.compute.internal",
                type_="Normal",
                name="llama-1b-worker-0",
            ),
            event(
                "Pulled",
                f'Container image "{IMAGE}" already present on machine',
                type_="Normal",
                component="kubelet",
            ),
            event("Started", "Started container pytorch", type_="Normal", component="kubelet"),
        ],
        HEALTHY_LOG,
    ),
    (
        "efa-job-on-efa",
        [pod(name="llama-8b-worker-0", spec=EFA_SPEC, containers=[running()])],
        [],
        EFA_HEALTHY_LOG,
    ),
    ("no-efa-job-on-sockets", [pod(containers=[running()])], [], OFI_FAILED_LOG),
    (
        "completed",
        [
            pod(
                phase="Succeeded",
                containers=[
                    {
                        "name": "pytorch",
                        "ready": False,
                        "restartCount": 0,
                        "state": {"terminated": {"reason": "Completed", "exitCode": 0}},
                    }
                ],
            )
        ],
        [],
        "",
    ),
    (
        "pulling-normally",
        [pod(phase="Pending", containers=[waiting("ContainerCreating")])],
        [event("Pulling", f'Pulling image "{IMAGE}"', type_="Normal", component="kubelet")],
        "",
    ),
    ("bare-status", [{"phase": "Running", "containerStatuses": [running()]}], [], HEALTHY_LOG),
    ("nothing", [], [], ""),
]
