"""Nodes and node events as the API server returns them on EKS with the node monitoring agent
(aws/eks-node-monitoring-agent v1.7.0): the kubelet's conditions, the agent's five conditions
(True with its `...IsReady` reasons, cmd/eks-node-monitoring-agent/main.go; False with a fault's
reason and message, pkg/manager/node_exporter.go Fatal and pkg/reasons/reasons.yaml), and its
Warning events (reason the condition type, message `<reason>: <message>`, node_exporter.go
Warning). The XID messages are dcgm_policies.go's."""

from __future__ import annotations

NODE = "ip-10-42-19-7.us-west-2.compute.internal"
OTHER = "ip-10-42-20-11.us-west-2.compute.internal"
T_FAULT = "2026-11-25T09:30:05Z"
BEAT = "2026-11-25T09:41:00Z"

KUBELET = [
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
]  # fmt: skip
AGENT = [
    ("KernelReady", "True", "KernelIsReady", "Monitoring for the Kernel system is active"),
    ("StorageReady", "True", "DiskIsReady", "Monitoring for the Disk system is active"),
    ("ContainerRuntimeReady", "True", "ContainerRuntimeIsReady",
     "Monitoring for the ContainerRuntime system is active"),
    ("NetworkingReady", "True", "NetworkingIsReady", "Monitoring for the Networking system is active"),
    ("AcceleratedHardwareReady", "True", "NvidiaGPUIsReady",
     "Monitoring for the Nvidia GPU system is active"),
]  # fmt: skip
XID79 = (
    "AcceleratedHardwareReady",
    "False",
    "NvidiaXID79Error",
    "detected XID-79 on the instance, review kernel logs for additional information.",
)
IPAMD = ("NetworkingReady", "False", "IPAMDNotReady", "IPAMD fails to connect to the API server.")
NOT_READY = ("Ready", "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")


def condition(kind, status, reason, message, since="2026-11-25T08:00:00Z"):
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastHeartbeatTime": BEAT,
        "lastTransitionTime": since,
    }


def node(name=NODE, *faults, gpus=4, since=T_FAULT):
    """A GPU node whose conditions are healthy but for `faults` (tuples as above)."""
    by_type = {c[0]: condition(*c) for c in KUBELET + AGENT}
    for fault in faults:
        by_type[fault[0]] = condition(*fault, since=since)
    quantity = {"cpu": "47810m", "memory": "192000Mi", "nvidia.com/gpu": str(gpus)}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "trainstack.io/pool": "gpu-g5",
                "trainstack.io/gpu": "true",
                "node.kubernetes.io/instance-type": "g5.12xlarge",
            },
        },
        "status": {
            "capacity": {**quantity, "nvidia.com/gpu": "4"},
            "allocatable": quantity,
            "conditions": list(by_type.values()),
        },
    }


def agent_event(reason, message, name=NODE, condition_type="AcceleratedHardwareReady"):
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.18a1b2c3d4e5f6a7", "namespace": "default"},
        "involvedObject": {"kind": "Node", "name": name, "uid": "5c7e0d6a-0000-4000-8000-1"},
        "reason": condition_type,
        "message": f"{reason}: {message}",
        "type": "Warning",
        "source": {"component": "eks-node-monitoring-agent", "host": name},
        "firstTimestamp": "2026-11-25T09:28:41Z",
        "lastTimestamp": "2026-11-25T09:29:12Z",
        "count": 2,
    }


XID13_EVENT = agent_event(
    "NvidiaXID13Warning",
    "detected unknown XID-13 on the instance, review kernel logs for additional information.",
)
THERMAL_EVENT = agent_event(
    "NvidiaThermalError", "Thermal status of GPUs breached the allowed thresholds."
)
