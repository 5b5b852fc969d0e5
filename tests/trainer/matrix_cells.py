"""The cells of the GPU-configuration matrix (test_gpu_matrix.py, run by matrix_worker.py), named
by one id each: `w2-bf16-untied-mb2-selective-eager`."""

from __future__ import annotations

import itertools
from dataclasses import dataclass


@dataclass(frozen=True)
class Cell:
    world: int
    precision: str  # parallel.mixed_precision: fp32 or bf16
    tied: bool
    micro_batches: int  # per rank and step
    checkpointing: str  # parallel.activation_checkpointing: none, full or selective
    compiled: bool

    @property
    def id(self) -> str:
        return "-".join(
            [
                f"w{self.world}",
                self.precision,
                "tied" if self.tied else "untied",
                f"mb{self.micro_batches}",
                self.checkpointing,
                "compile" if self.compiled else "eager",
            ]
        )

    @classmethod
    def parse(cls, cell_id: str) -> Cell:
        world, precision, tied, mb, checkpointing, mode = cell_id.split("-")
        return cls(
            int(world[1:]), precision, tied == "tied", int(mb[2:]), checkpointing, mode == "compile"
        )


EAGER = [
    Cell(world, precision, tied, mb, ac, compiled=False)
    for world, precision, tied, mb, ac in itertools.product(
        (1, 2), ("fp32", "bf16"), (True, False), (1, 2), ("none", "full", "selective")
    )
]

# Inductor builds a block's forward and backward kernels with the C++ compiler: about 40 s of CPU
# on this 2-core machine when its cache is cold. So compile gets one cell, the configuration that
# carries the most of a GPU run: two ranks (FSDP's all-gathers and reduce-scatters around the
# compiled blocks, whose hooks stay outside the graph), bf16, the by-rows embedding, accumulation
# and selective checkpointing (its policy traced into the graph). Compiling the other modes (none,
# full) is checked on a backend without code generation (test_activation_checkpoint.py).
COMPILED = [Cell(2, "bf16", False, 2, "selective", compiled=True)]
