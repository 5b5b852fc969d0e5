"""Why a node is unhealthy, as doctor reports it: each condition of the EKS node monitoring
agent that is False, with its reason and message, a node that is not Ready, and a GPU node whose
GPUs are not allocatable. Also whether the agent reports on the GPU nodes at all. A pure
function over the client's V1Node models (read as the API's JSON, the form the job watcher's
classifier reads, jobwatch/diagnose/node_conditions.py)."""

from __future__ import annotations

from components.scheduling import GPU_LABEL
from jobwatch.diagnose.node_conditions import ACCELERATED, node_faults

from .. import kube
from .node_checks import GPU_RESOURCE, labelled
from .results import FAIL, WARN, Result, ok

NAME = "node health"
SHOWN = 5  # nodes detailed in the report


def _gpus(node: dict, field: str) -> int | None:
    value = ((node.get("status") or {}).get(field) or {}).get(GPU_RESOURCE)
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None


def gpu_problem(node: dict) -> str:
    """'' when the GPU node's GPUs are allocatable, else what is wrong with them."""
    capacity, allocatable = _gpus(node, "capacity"), _gpus(node, "allocatable")
    if not capacity:
        return (
            f"no {GPU_RESOURCE} in its capacity (the NVIDIA device plugin has not registered "
            "the GPUs)"
        )
    if not allocatable or allocatable < capacity:
        return (
            f"{allocatable or 0} of {capacity} {GPU_RESOURCE} allocatable (the device plugin "
            "marked the others unhealthy)"
        )
    return ""


def node_problems(node: dict, gpu: bool) -> list[str]:
    """Each reason the node is unhealthy, most telling first."""
    out = [f.describe() for f in node_faults(node)]
    if gpu and (problem := gpu_problem(node)):
        out.append(problem)
    return out


def check_node_health(nodes: list) -> list[Result]:
    """One result for every node's conditions, one for the agent's reach on the GPU nodes."""
    as_json = [kube.to_dict(n) for n in nodes]
    gpu_names = {n.metadata.name for n in labelled(nodes, GPU_LABEL)}
    bad = {}
    for node in as_json:
        name = str((node.get("metadata") or {}).get("name") or "")
        problems = node_problems(node, name in gpu_names)
        if problems:
            bad[name] = problems
    return [_health(bad, len(nodes)), _agent(as_json, gpu_names)]


def _health(bad: dict[str, list[str]], total: int) -> Result:
    if not bad:
        return ok(NAME, f"{total} node(s): no unhealthy condition")
    names = sorted(bad)
    shown = [f"{n}: {'; '.join(bad[n])}" for n in names[:SHOWN]]
    more = f" (and {len(names) - SHOWN} more)" if len(names) > SHOWN else ""
    first = names[0]
    return Result(
        NAME,
        FAIL,
        f"{len(names)} of {total} node(s) unhealthy{more}: " + " | ".join(shown),
        "pods on such a node fail or hang (a GPU XID, a lost network or disk); node auto "
        "repair (trainstack:nodeHealth.autoRepair) replaces it after 10 min of "
        f"{ACCELERATED} False and 30 min of the others, and jobs resume from their checkpoint",
        f"kubectl describe node {first}; with auto repair off: kubectl cordon {first}, then "
        "delete the node (or terminate its instance) so its pods move",
    )


def _agent(nodes: list[dict], gpu_names: set[str]) -> Result:
    name = "node monitoring agent"
    if not gpu_names:
        return ok(name, "no GPU node to report on")

    def reports(node: dict) -> bool:
        conditions = (node.get("status") or {}).get("conditions") or []
        return any(c.get("type") == ACCELERATED for c in conditions)

    silent = sorted(
        str(n["metadata"]["name"])
        for n in nodes
        if n["metadata"]["name"] in gpu_names and not reports(n)
    )
    if not silent:
        return ok(name, f"reports {ACCELERATED} on all {len(gpu_names)} GPU node(s)")
    return Result(
        name,
        WARN,
        f"no {ACCELERATED} condition on GPU node(s) {', '.join(silent[:SHOWN])}",
        "GPU faults (XIDs, ECC errors) on them are not reported, so repair and the job "
        "watcher's GPU-fault alarm do not see them",
        "keep trainstack:nodeHealth.monitoringAgent on (the default) and `pulumi up`; "
        "kubectl -n kube-system get ds eks-node-monitoring-agent dcgm-server -o wide",
    )
