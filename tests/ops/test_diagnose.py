"""`trainstack.ops.diagnose.classify`: realistic pod states, events and log tails -> cause codes."""

import json

import pytest

from trainstack.cli import diagnose as diagnose_cli
from trainstack.ops import diagnose
from trainstack.ops.diagnose import CODES, classify, format_causes

IMAGE = (
    "123456789012.dkr.ecr.us-west-2.amazonaws.com/trainstack-dev-trainer@sha256:"
    "6f1c0d2e9a4b7c3d8e5f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d"
)


# ------------------------------------------------------------------------------ object builders


def pod(name="llama-1b-worker-0", phase="Running", containers=None, conditions=None, spec=None):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "training",
            "labels": {"training.kubeflow.org/job-name": "llama-1b"},
        },
        "spec": spec or {"containers": [{"name": "pytorch", "image": IMAGE}]},
        "status": {
            "phase": phase,
            "conditions": conditions or [],
            "containerStatuses": containers or [],
        },
    }


def waiting(reason, message="", name="pytorch"):
    return {
        "name": name,
        "ready": False,
        "restartCount": 0,
        "image": IMAGE,
        "state": {"waiting": {"reason": reason, "message": message}},
    }


def crashed(reason, code, name="pytorch", restarts=3):
    return {
        "name": name,
        "ready": False,
        "restartCount": restarts,
        "image": IMAGE,
        "state": {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": "back-off 1m20s restarting failed container",
            }
        },
        "lastState": {
            "terminated": {
                "reason": reason,
                "exitCode": code,
                "startedAt": "2026-11-25T09:12:03Z",
                "finishedAt": "2026-11-25T09:14:41Z",
            }
        },
    }


def running(name="pytorch"):
    return {
        "name": name,
        "ready": True,
        "restartCount": 0,
        "image": IMAGE,
        "state": {"running": {"startedAt": "2026-11-25T09:12:03Z"}},
    }


def unscheduled(message):
    return [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
            "lastTransitionTime": "2026-11-25T09:10:00Z",
        }
    ]


def event(
    reason,
    message,
    kind="Pod",
    name="llama-1b-worker-1",
    type_="Warning",
    component="default-scheduler",
):
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "type": type_,
        "reason": reason,
        "message": message,
        "count": 4,
        "involvedObject": {"kind": kind, "name": name, "namespace": "training"},
        "source": {"component": component},
    }


EFA_SPEC = {
    "containers": [
        {
            "name": "pytorch",
            "image": IMAGE,
            "env": [
                {"name": "NCCL_DEBUG", "value": "INFO"},
                {"name": "FI_PROVIDER", "value": "efa"},
                {"name": "FI_EFA_FORK_SAFE", "value": "1"},
            ],
            "resources": {
                "limits": {"nvidia.com/gpu": 4, "vpc.amazonaws.com/efa": 1},
                "requests": {"nvidia.com/gpu": 4, "vpc.amazonaws.com/efa": 1},
            },
        }
    ]
}


# ------------------------------------------------------------------------------------ log tails
# Written as torch, NCCL and huggingface_hub print them, long lines included: what matches here
# must match the real thing.

HEALTHY_LOG = """\
[I1125 09:12:41.102 ProcessGroupNCCL.cpp:905] [PG ID 0 PG GUID 0 Rank 0] ProcessGroupNCCL initialization options: size: 4, global rank: 0, TIMEOUT(ms): 600000, USE_HIGH_PRIORITY_STREAM: 0
llama-1b-worker-0:37:37 [0] NCCL INFO Bootstrap : Using eth0:10.42.17.88<0>
llama-1b-worker-0:37:37 [0] NCCL INFO cudaDriverVersion 12080
llama-1b-worker-0:37:37 [0] NCCL INFO NET/Plugin: Could not find: libnccl-net.so. Using internal network plugin.
llama-1b-worker-0:37:37 [0] NCCL INFO NET/Socket : Using [0]eth0:10.42.17.88<0>
llama-1b-worker-0:37:37 [0] NCCL INFO Using network Socket
llama-1b-worker-0:37:90 [0] NCCL INFO Channel 00/02 :    0   1   2   3
llama-1b-worker-0:37:90 [0] NCCL INFO comm 0x5581c2d0 rank 0 nranks 4 cudaDev 0 nvmlDev 0 busId 1e0 commId 0x8c1f2a9b - Init COMPLETE
trainer: preset llama3-1b, 1.2B parameters, 4 rank(s) on cuda (nccl), global batch 32 x 2048 tokens, grad accumulation 2, bf16
step  10/100 | loss 9.8812 | 21,402 tok/s (5,350/dev) | 41.3 TFLOP/s/dev | MFU 32.9% | data 0% | mem 17.9 GiB | ETA 0:04:51
step  20/100 | loss 7.4410 | 21,655 tok/s (5,413/dev) | 41.8 TFLOP/s/dev | MFU 33.3% | data 0% | mem 17.9 GiB | ETA 0:04:12
"""

EFA_HEALTHY_LOG = """\
llama-8b-worker-0:41:41 [0] NCCL INFO NET/OFI Initializing aws-ofi-nccl 1.13.2-aws
llama-8b-worker-0:41:41 [0] NCCL INFO NET/OFI Using Libfabric version 1.22
llama-8b-worker-0:41:41 [0] NCCL INFO NET/OFI Selected provider is efa, fabric is efa (found 1 nics)
llama-8b-worker-0:41:41 [0] NCCL INFO Using network AWS Libfabric
llama-8b-worker-0:41:95 [0] NCCL INFO comm 0x55d0a1f0 rank 0 nranks 16 cudaDev 0 busId 1e0 - Init COMPLETE
step 200/2000 | loss 3.1170 | 48,210 tok/s (3,013/dev) | 38.9 TFLOP/s/dev | MFU 31.0% | data 1% | mem 19.4 GiB | ETA 1:52:30
"""

CUDA_OOM_LOG = """\
step   1/100 | loss 10.8801 | 0 tok/s | warming up
[rank2]: Traceback (most recent call last):
[rank2]:   File "/app/trainer/train.py", line 312, in train_step
[rank2]:     loss.backward()
[rank2]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 3.91 GiB. GPU 0 has a total capacity of 22.05 GiB of which 1.12 GiB is free. Process 211 has 20.92 GiB memory in use. Of the allocated memory 18.40 GiB is allocated by PyTorch, and 1.77 GiB is reserved by PyTorch but unallocated.
[rank0]:[E1125 09:24:02.551 ProcessGroupNCCL.cpp:632] [Rank 0] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=57, OpType=_REDUCE_SCATTER_BASE, NumelIn=262144000, NumelOut=65536000, Timeout(ms)=600000) ran for 600017 milliseconds before timing out.
"""

NCCL_TIMEOUT_LOG = """\
step 340/2000 | loss 2.8817 | 47,998 tok/s (2,999/dev) | 38.7 TFLOP/s/dev | MFU 30.8% | data 1% | mem 19.4 GiB | ETA 1:46:02
[rank5]:[E1125 10:02:19.004 ProcessGroupNCCL.cpp:632] [Rank 5] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=18311, OpType=ALLREDUCE, NumelIn=1, NumelOut=1, Timeout(ms)=600000) ran for 600081 milliseconds before timing out.
[rank5]:[E1125 10:02:19.010 ProcessGroupNCCL.cpp:2102] [PG ID 0 PG GUID 0(default_pg) Rank 5] Timeout at NCCL work: 18311, last enqueued NCCL work: 18312, last completed NCCL work: 18310.
[rank5]:[E1125 10:02:19.011 ProcessGroupNCCL.cpp:678] Some NCCL operations have failed or timed out. Due to the asynchronous nature of CUDA kernels, subsequent GPU operations might run on corrupted/incomplete data.
"""

NCCL_WARN_LOG = """\
llama-1b-worker-2:38:112 [0] transport/net_socket.cc:541 NCCL WARN NET/Socket : peer 10.42.33.14<47213> shut down the connection while receiving
llama-1b-worker-2:38:112 [0] NCCL INFO transport/net.cc:1301 -> 6
"""

RDZV_LOG = """\
[W1125 09:31:10.119 socket.cpp:752] [c10d] The client socket has failed to connect to [llama-1b-worker-0.training.svc]:23456 (errno: 110 - Connection timed out).
torch.distributed.elastic.rendezvous.api.RendezvousTimeoutError: The node 'llama-1b-worker-3_41_0' has failed to join the rendezvous 'llama-1b' within 900 seconds.
"""

STORE_LOG = """\
Traceback (most recent call last):
  File "/usr/local/lib/python3.11/site-packages/torch/distributed/rendezvous.py", line 189, in _create_c10d_store
torch.distributed.DistNetworkError: The client socket has timed out after 900000ms while trying to connect to (llama-1b-worker-0, 23456).
"""

EFA_SOCKET_LOG = """\
llama-8b-worker-1:40:40 [0] NCCL INFO Bootstrap : Using eth0:10.43.4.19<0>
llama-8b-worker-1:40:40 [0] NCCL INFO NET/Plugin: Could not find: libnccl-net.so. Using internal network plugin.
llama-8b-worker-1:40:40 [0] NCCL INFO NET/Socket : Using [0]eth0:10.43.4.19<0>
llama-8b-worker-1:40:40 [0] NCCL INFO Using network Socket
"""

OFI_FAILED_LOG = """\
llama-8b-worker-0:44:44 [0] NCCL INFO NET/OFI Initializing aws-ofi-nccl 1.13.2-aws
llama-8b-worker-0:44:44 [0] NCCL INFO NET/OFI Unable to find a protocol that worked.  Failing initialization.
llama-8b-worker-0:44:44 [0] NCCL INFO NET/Socket : Using [0]eth0:10.43.7.201<0>
"""

HF_401_LOG = """\
Traceback (most recent call last):
  File "/app/trainer/tokenizer.py", line 58, in load
requests.exceptions.HTTPError: 401 Client Error: Unauthorized for url: https://huggingface.co/meta-llama/Llama-3.2-1B/resolve/main/tokenizer.json
"""

HF_GATED_LOG = """\
huggingface_hub.errors.GatedRepoError: 403 Client Error. (Request ID: Root=1-6744b1c2-0a1b2c3d4e5f)
Cannot access gated repo for url https://huggingface.co/meta-llama/Llama-3.1-8B/resolve/main/config.json.
Your request to access model meta-llama/Llama-3.1-8B is awaiting a review from the repo authors.
"""

HF_MISSING_LOG = """\
huggingface_hub.errors.RepositoryNotFoundError: 404 Client Error. (Request ID: Root=1-6744b2aa-77e0)
Repository Not Found for url: https://huggingface.co/meta-llama/Llama-3.2-1b-typo/resolve/main/config.json.
Please make sure you specified the correct `repo_id` and `repo_type`.
"""

SHM_LOG = """\
ERROR: Unexpected bus error encountered in worker. This might be caused by insufficient shared memory (shm).
RuntimeError: DataLoader worker (pid 812) is killed by signal: Bus error. It is possible that dataloader's workers are out of shared memory. Please try to raise your shared memory limit.
"""

CRASH_LOG = """\
Traceback (most recent call last):
  File "/app/trainer/train.py", line 88, in main
ValueError: global_batch_size=30 is not divisible by micro_batch_size x ranks = 4 x 4
"""

KARPENTER_LIMIT = (
    'Failed to schedule pod, incompatible with nodepool "small", daemonset overhead='
    '{"cpu":"180m","memory":"240Mi","pods":"5"}, no instance type satisfied resources '
    '{"cpu":"8","memory":"60Gi","nvidia.com/gpu":"4","pods":"1"} and requirements '
    'trainstack.io/pool In [large]; incompatible with nodepool "large", daemonset overhead='
    '{"cpu":"180m","memory":"240Mi","pods":"5"}, all available instance types exceed limits for '
    'nodepool: "large"'
)
NO_GPU = (
    "0/3 nodes are available: 1 node(s) had untolerated taint {CriticalAddonsOnly: true}, "
    "2 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available: 1 Preemption is "
    "not helpful for scheduling, 2 No preemption victims found for incoming pod."
)
NO_EFA = (
    "0/4 nodes are available: 2 Insufficient vpc.amazonaws.com/efa, 2 node(s) didn't match "
    "Pod's node affinity/selector. preemption: 0/4 nodes are available: 4 Preemption is not "
    "helpful for scheduling."
)
NO_MATCH = (
    "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. "
    "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
)
ICE = (
    "creating instance, insufficient capacity, with fleet error(s), "
    "InsufficientInstanceCapacity: We currently do not have sufficient g5.48xlarge capacity "
    "in the Availability Zone you requested (us-west-2c). Our system will be working on "
    "provisioning additional capacity."
)
QUOTA = (
    "creating instance, with fleet error(s), VcpuLimitExceeded: You have requested more vCPU "
    "capacity than your current vCPU limit of 64 allows for the instance bucket that the "
    "specified instance type belongs to."
)
PULL_NOT_FOUND = (
    f'failed to pull and unpack image "{IMAGE}": failed to resolve reference '
    f'"{IMAGE}": {IMAGE}: not found'
)
PULL_403 = (
    f'failed to pull and unpack image "{IMAGE}": failed to resolve reference "{IMAGE}": '
    "unexpected status from HEAD request: 403 Forbidden"
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


@pytest.mark.parametrize("case_id, pods, events, log, expected", CASES, ids=[c[0] for c in CASES])
def test_known_failures_are_classified(case_id, pods, events, log, expected):
    causes = classify(pods, events, log)
    assert [c.code for c in causes] == expected
    for c in causes:
        assert c.summary and c.remedy and c.evidence


@pytest.mark.parametrize("case_id, pods, events, log", HEALTHY, ids=[c[0] for c in HEALTHY])
def test_healthy_inputs_give_no_cause(case_id, pods, events, log):
    assert classify(pods, events, log) == []


def test_every_code_has_a_case():
    assert {code for *_, expected in CASES for code in expected} == set(CODES)


def test_efa_expectation_can_be_given_when_only_the_log_is_known():
    assert [c.code for c in classify([], [], OFI_FAILED_LOG, efa_expected=True)] == [
        "EFA_FALLBACK_TCP"
    ]
    assert classify([], [], OFI_FAILED_LOG) == []
    # EFA in use: sockets for the bootstrap are fine once the OFI provider is selected.
    assert classify([], [], EFA_HEALTHY_LOG + EFA_SOCKET_LOG, efa_expected=True) == []


def test_remedies_name_the_config_key_or_command():
    def remedy(code, pods, events, log):
        return next(c.remedy for c in classify(pods, events, log) if c.code == code)

    limit = next(c for c in CASES if c[0] == "nodepool-limit")
    assert "trainstack:karpenter.nodePools.large.maxGpus" in remedy("NODEPOOL_LIMIT", *limit[1:4])
    assert "pulumi config set --secret trainstack:hfToken" in remedy(
        "SECRET_MISSING", *CASES[0][1:4]
    )
    assert "micro_batch_size" in remedy("CUDA_OOM", [], [], CUDA_OOM_LOG)
    assert "parallel.timeout_s" in remedy("NCCL_TIMEOUT", [], [], NCCL_TIMEOUT_LOG)
    assert "shmSize" in remedy("SHM_EXHAUSTED", [], [], SHM_LOG)
    assert "trainstack:trainingJobs.<job>.memory" in remedy(
        "OOM_KILLED", [pod(containers=[crashed("OOMKilled", 137)])], [], ""
    )
    pull = next(c for c in CASES if c[0] == "image-forbidden")
    assert "ECR read" in remedy("IMAGE_PULL", *pull[1:4])
    pull = next(c for c in CASES if c[0] == "image-not-found")
    assert "trainerImage" in remedy("IMAGE_PULL", *pull[1:4])


def test_remedy_commands_name_the_jobs_namespace():
    crashed_pod = pod(containers=[crashed("Error", 1)])
    [default] = classify([], [], RDZV_LOG)
    assert "kubectl get pods -n training " in default.remedy  # nothing says otherwise
    crashed_pod["metadata"]["namespace"] = "ml"
    [from_pod] = classify([crashed_pod], [], "")
    assert from_pod.code == "CONTAINER_FAILED" and "kubectl logs -n ml " in from_pod.remedy
    [given] = classify([], [], NCCL_TIMEOUT_LOG, namespace="research")
    assert "kubectl logs -n research " in given.remedy


def test_other_secret_gets_a_generic_remedy():
    causes = classify(
        [pod(containers=[waiting("CreateContainerConfigError", 'secret "wandb" not found')])],
        [],
        "",
    )
    assert causes[0].code == "SECRET_MISSING" and "'wandb'" in causes[0].summary
    assert "hfToken" not in causes[0].remedy


def test_events_k8s_io_shape_is_read_too():
    ev = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "reason": "FailedScheduling",
        "note": NO_GPU,
        "regarding": {"kind": "Pod", "name": "llama-1b-worker-2"},
    }
    causes = classify([], [ev], "")
    assert [c.code for c in causes] == ["GPU_UNSCHEDULABLE"]
    assert "llama-1b-worker-2" in causes[0].evidence


def test_format_causes():
    assert "No known failure cause" in format_causes([])
    text = format_causes(classify([], [], CUDA_OOM_LOG))
    assert text.startswith("1. [CUDA_OOM]") and "2. [NCCL_TIMEOUT]" in text
    assert "fix:" in text and "seen:" in text


def test_order_is_the_declared_order():
    # Several independent causes come out in CODES order whatever the input order.
    causes = classify(
        [pod(containers=[crashed("OOMKilled", 137)])], [], NCCL_TIMEOUT_LOG + HF_401_LOG
    )
    codes = [c.code for c in causes]
    assert codes == sorted(codes, key=CODES.index) == ["HF_AUTH", "OOM_KILLED", "NCCL_TIMEOUT"]
    assert diagnose.Cause("X", "s", "r").evidence == ""


def test_command_reads_saved_kubectl_output(tmp_path, capsys):
    limit = next(c for c in CASES if c[0] == "nodepool-limit")
    (tmp_path / "pods.json").write_text(json.dumps({"kind": "List", "items": limit[1]}))
    (tmp_path / "events.json").write_text(json.dumps({"kind": "List", "items": limit[2]}))
    (tmp_path / "log.txt").write_text(limit[3])
    argv = [
        "--pods",
        str(tmp_path / "pods.json"),
        "--events",
        str(tmp_path / "events.json"),
        "--log",
        str(tmp_path / "log.txt"),
    ]
    assert diagnose_cli.main(argv + ["--json"]) == 1
    assert [c["code"] for c in json.loads(capsys.readouterr().out)] == limit[4]
    assert diagnose_cli.main(["--log", str(tmp_path / "missing.txt")]) == 2
    (tmp_path / "ok.txt").write_text(HEALTHY_LOG)
    assert diagnose_cli.main(["--log", str(tmp_path / "ok.txt")]) == 0
    assert "No known failure cause" in capsys.readouterr().out


def test_trainstack_diagnose_runs_the_command(tmp_path, capsys):
    from trainstack import cli

    (tmp_path / "log.txt").write_text(CUDA_OOM_LOG)
    assert cli.main(["diagnose", "--log", str(tmp_path / "log.txt")]) == 1
    assert "[CUDA_OOM]" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        cli.main(["diagnose", "--help"])
    assert done.value.code == 0 and "--pods" in capsys.readouterr().out


def test_nothing_to_read_says_what_it_needs(capsys):
    """No --pods/--events/--log: every classifier would find nothing, which is no diagnosis."""
    from trainstack import cli

    for run in (diagnose_cli.main, lambda argv: cli.main(["diagnose", *argv])):
        for argv in ([], ["--json"], ["--no-efa"]):
            assert run(argv) == 2
            captured = capsys.readouterr()
            assert captured.out == "" and captured.err.count("\n") == 1
            assert all(flag in captured.err for flag in ("--pods", "--events", "--log -"))
