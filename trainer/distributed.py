"""Process group and device for one rank, with or without torchrun.

Under torchrun (or a PyTorchJob, whose operator sets the same variables) the rank layout comes
from the environment; alone, the process forms a one-rank group on a free local port so that
every code path (FSDP, DCP, collectives) is the same in both cases. A group that already exists
when the trainer starts (Ray Train's TorchTrainer makes one in each worker) is used as it is.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh


@dataclass(frozen=True)
class Dist:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    mesh: DeviceMesh

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _attempt_store(timeout: timedelta) -> dist.Store | None:
    """torchrun's own store, with a key prefix per restart attempt.

    After a restart, torchrun hands the new workers the same store it gave the old ones; without
    a prefix a new rank can read a dead rank's address and fail to connect (seen with torch 2.13
    and gloo under `--max-restarts`).
    """
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT")
    if attempt is None or os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    base = dist.TCPStore(
        os.environ["MASTER_ADDR"],
        int(os.environ["MASTER_PORT"]),
        int(os.environ["WORLD_SIZE"]),
        is_master=False,
        timeout=timeout,
    )
    return dist.PrefixStore(f"trainstack/attempt_{attempt}", base)


def _adopt(device: str | None) -> Dist:
    """The launcher's process group: rank and size from it, and the device its backend implies:
    under NCCL the GPU the launcher made current for this rank (Ray Train picks it from the GPUs
    Ray assigned, which need not be LOCAL_RANK's index), else the CPU."""
    use_cuda = "nccl" in dist.get_backend() if device is None else device == "cuda"
    dev = torch.device("cuda", torch.cuda.current_device()) if use_cuda else torch.device("cpu")
    world = dist.get_world_size()
    mesh = init_device_mesh(dev.type, (world,), mesh_dim_names=("dp",))
    return Dist(dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")), world, dev, mesh)


def init(timeout_s: int = 600, device: str | None = None) -> Dist:
    """Set the device first (NCCL binds the communicator to it), then the process group."""
    if dist.is_initialized():
        return _adopt(device)
    if "RANK" not in os.environ:
        os.environ.update(
            RANK="0",
            LOCAL_RANK="0",
            WORLD_SIZE="1",
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(_free_port()),
        )
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    world = int(os.environ["WORLD_SIZE"])
    use_cuda = torch.cuda.is_available() if device is None else device == "cuda"
    if use_cuda:
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
        backend = "nccl"
    else:
        dev = torch.device("cpu")
        backend = "gloo"
    timeout = timedelta(seconds=timeout_s)
    dist.init_process_group(
        backend=backend,
        timeout=timeout,
        store=_attempt_store(timeout),
        rank=rank,
        world_size=world,
        device_id=dev if use_cuda else None,
    )
    mesh = init_device_mesh(dev.type, (world,), mesh_dim_names=("dp",))
    return Dist(rank, local_rank, world, dev, mesh)


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
