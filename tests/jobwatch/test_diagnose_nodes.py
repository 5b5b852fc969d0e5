"""The classifier's NODE_UNHEALTHY cause (jobwatch/diagnose/nodes.py) on recorded pods, nodes
and events: a pod's node reporting a fault, and a pod whose node was replaced under it."""

from __future__ import annotations

from diagnose_support import NCCL_TIMEOUT_LOG, crashed, pod, running
from node_records import IPAMD, NODE, NOT_READY, XID13_EVENT, XID79, node

from jobwatch import incidents, pytorchjob
from jobwatch.diagnose import classify


def on(node_name, **kw):
    """A worker that ran on `node_name` and crashed with a retryable code (a CUDA error)."""
    spec = {"nodeName": node_name, "containers": [{"name": "pytorch", "image": "img"}]}
    return pod(containers=[crashed("Error", 200)], spec=spec, **kw)


def codes(causes):
    return [c.code for c in causes]


def test_a_gpu_fault_on_the_pods_node_is_the_cause_before_the_timeouts_it_causes():
    causes = classify([on(NODE)], [], NCCL_TIMEOUT_LOG, nodes=[node(NODE, XID79)])
    assert codes(causes) == ["NODE_UNHEALTHY", "NCCL_TIMEOUT"]
    cause = causes[0]
    assert f"ran on node {NODE}, which reports AcceleratedHardwareReady False" in cause.summary
    assert "XID 79" in cause.summary and "replaced after 10 min" in cause.summary
    assert "resumes from its last checkpoint" in cause.summary
    assert "NvidiaXID79Error" in cause.evidence and "detected XID-79" in cause.evidence
    assert f"kubectl cordon {NODE}" in cause.remedy


def test_other_faults_name_their_condition_and_wait():
    (net,) = [c for c in classify([on(NODE)], [], "", nodes=[node(NODE, IPAMD)])]
    assert "NetworkingReady False" in net.summary and "networking fault" in net.summary
    assert "after 30 min" in net.summary and "IPAMDNotReady" in net.evidence
    (lost,) = classify([on(NODE)], [], "", nodes=[node(NODE, NOT_READY)])
    assert "kubelet stopped reporting the node Ready" in lost.summary


def test_a_replaced_node_is_named_from_the_pods_trace_and_the_agents_events():
    evicted = on(
        NODE,
        conditions=[
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint",
            }
        ],
    )
    # The node was looked up and is gone; the agent's events about it are left.
    (cause,) = classify([evicted], [XID13_EVENT], "", nodes=[])
    assert cause.code == "NODE_UNHEALTHY"
    assert f"node {NODE} is gone after the agent reported AcceleratedHardwareReady" in cause.summary
    assert "NvidiaXID13Warning" in cause.evidence and "DeletionByTaintManager" in cause.evidence


def test_healthy_or_unknown_nodes_say_nothing():
    assert classify([on(NODE)], [], "", nodes=[node(NODE)]) != []  # the crash itself, only
    assert "NODE_UNHEALTHY" not in codes(classify([on(NODE)], [], "", nodes=[node(NODE)]))
    # Gone without a trace of why (a finished job's node scaled down): not this cause.
    assert "NODE_UNHEALTHY" not in codes(classify([on(NODE)], [], "", nodes=[]))
    # Nodes not read: nothing is said about them.
    assert "NODE_UNHEALTHY" not in codes(classify([on(NODE)], [], "", nodes=None))
    ok = pod(containers=[running()], spec={"nodeName": NODE, "containers": []})
    assert classify([ok], [], "", nodes=[node(NODE)]) == []


def test_a_pod_lost_with_its_replaced_node_is_a_restart_that_names_why():
    """Node repair deletes the node; the pod garbage collector then marks its pods Failed with
    DisruptionTarget DeletionByPodGC (no container ended). Under ExitCode the operator reads its
    0xbeef for it and recreates the pod, which resumes from the checkpoint."""
    gone = pod(
        name="llm-worker-1",
        phase="Failed",
        containers=[running()],
        conditions=[
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "DeletionByPodGC",
                "message": "PodGC: node no longer exists",
            }
        ],
        spec={"nodeName": NODE, "containers": [{"name": "pytorch", "image": "img"}]},
    )
    gone["metadata"]["labels"]["training.kubeflow.org/replica-type"] = "worker"
    failed = incidents.failed_pod(gone, "pytorch")
    assert failed.exit_code == incidents.NO_EXIT_CODE
    assert failed.describe().startswith(f"pod llm-worker-1 on node {NODE} failed (DeletionByPodGC)")
    job = {"spec": {"pytorchReplicaSpecs": {"Worker": {"restartPolicy": "ExitCode"}}}}
    assert pytorchjob.retried(job, gone, failed.exit_code)
    assert codes(classify([gone], [], "", nodes=[])) == ["NODE_UNHEALTHY"]
