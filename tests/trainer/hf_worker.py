"""One rank of a Hugging Face import and export: the trainer's own code path
(`hf_init.prepare`, `build_model`, `hf_init.load_weights`, the `hf_export.export_full` of a run's
end) on the trainer's argv. test_hf_format.py runs rank 1 as this script and rank 0 in its own
process (`run_rank`). Rank 0 writes the logits of the fixed batch `fixed_tokens` and every rank's
bytes read to `<metrics.out_dir>/result.pt`, and the export goes to `<metrics.out_dir>/export`
(float32, split into several files)."""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from trainer import config, distributed, exit_codes, hf_export, hf_init
from trainer.train import build_model


def fixed_tokens(vocab_size: int) -> torch.Tensor:
    return torch.randint(0, vocab_size, (2, 24), generator=torch.Generator().manual_seed(7))


def run_rank(argv: list[str]) -> None:
    """This rank's part; the process group is the caller's or made from RANK, WORLD_SIZE and
    the master's address, as the training operator starts a rank."""
    cfg = config.from_args(argv)
    d = distributed.init(cfg.parallel.timeout_s)
    cfg, init = hf_init.prepare(cfg)
    model = build_model(cfg, d)
    got = hf_init.load_weights(model, init)
    with torch.no_grad():
        logits = model(fixed_tokens(cfg.model.vocab_size))
    read = [None] * d.world_size
    dist.all_gather_object(read, got.read_bytes)
    out = Path(cfg.metrics.out_dir)
    hf_export.export_full(model, cfg, out / "export", d.rank, "float32", max_shard_bytes=100_000)
    if d.is_main:
        torch.save({"logits": logits, "read": read, "total": got.total_bytes}, out / "result.pt")
    dist.barrier()


if __name__ == "__main__":
    run_rank(sys.argv[1:])
    distributed.shutdown()
    exit_codes.exit_process(0)
