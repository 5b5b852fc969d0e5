"""Recorded inputs of the classifier tests: pods, container states and events as the API returns
them, and the log tails of healthy and failed ranks."""

IMAGE = (
    "123456789012.dkr.ecr.us-west-2.amazonaws.com/trainstack-dev-trainer@sha256:"
    "6f1c0d2e9a4b7c3d8e5f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d"
)

# What this stack's trainer pod runs (components/job_command.py torchrun_command): the exit codes
# 2, 3 and 4 are the trainer's and trainer.launch's only in such a container.
TRAINER_COMMAND = [
    "python", "-m", "trainer.launch", "--backoff-limit=3",
    "--checkpoint-dir=/mnt/checkpoints/llama-1b/checkpoints",
    "--nnodes=$(PET_NNODES)", "--nproc-per-node=1", "--rdzv-backend=c10d",
    "--rdzv-endpoint=$(MASTER_ADDR):$(MASTER_PORT)", "--rdzv-id=llama-1b", "--max-restarts=0",
    "-m", "trainer", "--preset", "llama3-1b",
]  # fmt: skip


def pod(name="llama-1b-worker-0", phase="Running", containers=None, conditions=None, spec=None):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "training",
            "labels": {"training.kubeflow.org/job-name": "llama-1b"},
        },
        "spec": spec
        or {"containers": [{"name": "pytorch", "image": IMAGE, "command": TRAINER_COMMAND}]},
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


# The EFA check at pod start (components/job_command.py efa_checked) on node ip-10-0-7-12, and
# what trainer.selftest printed when EFA did not come up there.
NODE_CHECK_SPEC = {
    "nodeName": "ip-10-0-7-12.us-west-2.compute.internal",
    "containers": [{"name": "pytorch", "image": IMAGE, "command": [
        "/bin/sh", "-c", "python -m trainer.selftest --level quick --expect-efa --node-check "
        "--backoff-limit=3 --checkpoint-dir=/mnt/checkpoints/llama-1b/checkpoints && exec "
        '"$@"', "sh", *TRAINER_COMMAND]}],
}  # fmt: skip
NODE_CHECK_LOG = """\
FAIL efa                      0.41s  fi_info found no efa provider: fi_getinfo: -61 (No data available)
selftest quick: FAILED: efa
trainer.selftest: node check failed in pod llama-1b-worker-0 (efa); exiting 201 so the pod is recreated, possibly on another node
"""
S3_403_LOG = """\
trainer: error: S3 refused the request: 403 AccessDenied on PutObject (Failed to upload /mnt/checkpoints/llama-1b/checkpoints/step_00000200/.metadata to b/checkpoints/llama-1b/step_00000200/.metadata: An error occurred (AccessDenied) when calling the PutObject operation: Access Denied); a restart would be refused the same way.
"""
