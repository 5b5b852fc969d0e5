"""How long a checkpoint's I/O takes, and whether it fits the time the run gives it.

Pure and stdlib-only: the trainer checks its config with it at start (TrainConfig.check_world),
and the stack (components/training_job.py) derives the pod's termination grace and torchrun's
shutdown timeout from it without importing torch.

What must fit where:

- A save (`dcp.save`) and a load (`dcp.load`) run on every rank at once, and each rank then waits
  in a collective for the slowest: both must finish within the process-group timeout
  (`parallel.timeout_s`, passed to init_process_group, which the NCCL watchdog enforces). The
  volume's throughput is shared by all ranks, so the time is the whole checkpoint over it. Only
  half the timeout is granted: an upload in flight reads the same volume while the next save
  writes it, and the figures below are baselines.
- The upload to S3 runs in the background (trainer/s3_upload.py) and the restore waits in a
  long-timeout group of its own (trainer/s3_restore.py), so neither is bound by the timeout; the
  upload bounds how often a checkpoint can be uploaded, the restore how long a start on a new
  volume takes.
- SIGTERM: the pod's grace must cover a save plus the wait for its upload; with asynchronous saves
  (trainer/checkpoint_async.py) also the end of a save still in flight, which comes first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

# fp32 sharded parameters (FSDP2 keeps the master copy in fp32 under bf16 compute:
# trainer/parallelize.py) and AdamW's exp_avg and exp_avg_sq, which torch keeps in the
# parameter's dtype: 4 + 4 + 4 bytes per parameter.
BYTES_PER_PARAM = 12
MB = 1_000_000  # throughputs are in MB/s, as AWS states them (FSx: MB/s per TiB)
# The share of the process-group timeout a save or a load may take (see above).
TIMEOUT_SHARE = 0.5
# S3: about 85-90 MB/s per concurrent request (Amazon S3 User Guide, "Performance guidelines for
# Amazon S3", scaling storage connections horizontally: optimizing-performance-guidelines.html), and
# boto3's transfer manager runs 10 requests at once per process (boto3 TransferConfig
# max_concurrency); every rank uploads and downloads its own files.
S3_MBPS_PER_RANK = 85 * 10
# Added to the SIGTERM work for the process to start saving (the step in flight ends first) and
# exit, and the floor the stack always gave (120 s).
GRACE_MARGIN_S = 60
MIN_GRACE_S = 120


def param_count(model: Mapping) -> int:
    """Parameters of the trainer's Transformer (trainer/model.py) from its config's fields:
    the embedding, per block the attention and SwiGLU projections and two RMSNorms, the final
    norm, and the output layer unless it is tied to the embedding."""
    dim, hd = model["dim"], model["dim"] // model["n_heads"]
    attn = dim * hd * (2 * model["n_heads"] + 2 * model["n_kv_heads"])
    block = attn + 3 * dim * model["ffn_hidden"] + 2 * dim
    head = 0 if model.get("tie_embeddings") else model["vocab_size"] * dim
    return model["vocab_size"] * dim + model["n_layers"] * block + dim + head


def checkpoint_bytes(model: Mapping) -> int:
    return param_count(model) * BYTES_PER_PARAM


def fsx_lustre_mbps(size_gib: float, per_tib_mbps: int) -> float:
    """An FSx for Lustre SSD file system's baseline throughput: MB/s per TiB of storage times
    its TiB (FSx Lustre User Guide, "Amazon FSx for Lustre performance": throughput scales
    with storage capacity; 1200 GiB at 125 MB/s/TiB is about 146 MB/s)."""
    return size_gib / 1024 * per_tib_mbps


@dataclass(frozen=True)
class Budget:
    """One run's checkpoint I/O: `volume_mbps` is the checkpoint volume's throughput, `ranks`
    the world size (every rank moves its own files to and from S3)."""

    bytes: int
    volume_mbps: float
    timeout_s: int
    ranks: int = 1
    uploads: bool = False
    async_save: bool = False

    @property
    def s3_mbps(self) -> float:
        return S3_MBPS_PER_RANK * max(1, self.ranks)

    @property
    def save_s(self) -> float:
        """Every rank writes its shards at once: the checkpoint over the volume's throughput."""
        return self.bytes / (self.volume_mbps * MB)

    @property
    def load_s(self) -> float:
        return self.save_s

    @property
    def upload_s(self) -> float:
        """Read from the volume, sent to S3: the slower of the two."""
        if not self.uploads:
            return 0.0
        return self.bytes / (min(self.volume_mbps, self.s3_mbps) * MB)

    @property
    def collective_limit_s(self) -> float:
        return self.timeout_s * TIMEOUT_SHARE

    @property
    def grace_s(self) -> int:
        """The pod's terminationGracePeriodSeconds: a save in flight (asynchronous saves), a
        SIGTERM save, then the wait for its upload, and the margin."""
        saves = (2 if self.async_save else 1) * self.save_s
        return max(MIN_GRACE_S, math.ceil(saves + self.upload_s + GRACE_MARGIN_S))

    def problems(self) -> list[str]:
        """One line per part that cannot finish in time, naming the options that change it."""
        gb = self.bytes / 1e9
        out = []
        for what, secs in (("writing", self.save_s), ("reading", self.load_s)):
            if secs > self.collective_limit_s:
                need_mbps = self.bytes / (self.collective_limit_s * MB)
                need_timeout = math.ceil(secs / TIMEOUT_SHARE)
                out.append(
                    f"checkpoint.volume_throughput_mbps={self.volume_mbps:g}: {what} the "
                    f"{gb:.1f} GB checkpoint takes {secs:.0f} s, above {TIMEOUT_SHARE:g} x "
                    f"parallel.timeout_s={self.timeout_s} that every rank waits in a collective; "
                    f"raise parallel.timeout_s to {need_timeout} or more, or give the volume "
                    f"{need_mbps:.0f} MB/s or more"
                )
                break  # the same numbers: one line
        return out
