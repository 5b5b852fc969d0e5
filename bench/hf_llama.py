"""The Hugging Face side of bench/compare_hf.py: a `LlamaForCausalLM` of the trainstack model's
exact shape (trainer/hf_config.py), the trainstack weights copied into it name by name
(trainer/hf_names.py, the table the trainer's own import and export use), the common FSDP2
wrapping (each decoder layer, then the root with the embedding and head; trainer.parallelize's
own units are trainstack's to win with), and trainer.train.train_step's sequence with Hugging
Face's own loss. transformers is imported inside `build_hf` only (bench/requirements.txt
installs it).
"""

from __future__ import annotations

import math

import torch
from torch.distributed.fsdp import fully_shard

from trainer import batches, config, distributed, hf_config
from trainer.hf_names import to_hf
from trainer.parallelize import mixed_precision
from trainer.train import clip_gradients


def build_hf(cfg: config.TrainConfig):
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM

    # The export's config.json (trainer/hf_config.py): one mapping of the shape for both.
    fields = hf_config.to_hf(cfg.model, None, (), "float32") | {"use_cache": False}
    hf_cfg = LlamaConfig.from_dict(fields, attn_implementation="sdpa")
    model = LlamaForCausalLM(hf_cfg).to(torch.float32)
    impl = model.config._attn_implementation
    if impl != "sdpa":
        raise SystemExit(f"compare_hf: Hugging Face chose attention {impl!r}, not 'sdpa'")
    return model, transformers.__version__


def copy_weights(ts_model, hf_model) -> None:
    """trainstack's initial weights into the (not yet sharded) Hugging Face model; every
    parameter on both sides must pair up with the same shape."""
    hf_params = dict(hf_model.named_parameters())
    seen = set()
    with torch.no_grad():
        for name, p in ts_model.named_parameters():
            full = p.full_tensor() if hasattr(p, "full_tensor") else p
            target = hf_params[to_hf(name)]
            if target.shape != full.shape:
                raise SystemExit(
                    f"compare_hf: {name} {tuple(full.shape)} vs {to_hf(name)} {tuple(target.shape)}"
                )
            target.copy_(full)
            seen.add(to_hf(name))
    missing = set(hf_params) - seen
    if missing:
        raise SystemExit(
            f"compare_hf: Hugging Face parameters without a trainstack "
            f"counterpart: {sorted(missing)}"
        )


def shard_hf(model, cfg: config.TrainConfig, d: distributed.Dist):
    """The common FSDP2 wrapping, with trainer.parallelize's mixed precision: every decoder
    layer, then the root (embedding, final norm, head); the last layer stays gathered after
    forward."""
    mp = mixed_precision(cfg.parallel, d.device)
    layers = model.model.layers
    for i, layer in enumerate(layers):
        fully_shard(layer, mesh=d.mesh, mp_policy=mp, reshard_after_forward=i < len(layers) - 1)
    fully_shard(model, mesh=d.mesh, mp_policy=mp)
    return model


def hf_train_step(model, optimizer, micro_batches, cfg, d) -> tuple[float, float]:
    """trainer.train.train_step's sequence with Hugging Face's loss: forward/backward per
    micro-batch (loss / accumulation), one all-reduce of the loss, clipping, optimizer step."""
    accum = len(micro_batches)
    local_sum = torch.zeros((), dtype=torch.float64, device=d.device)
    for mb in micro_batches:
        inputs, _ = batches.split(mb, d.device)
        loss = model(input_ids=inputs, labels=inputs, use_cache=False).loss
        (loss / accum).backward()
        local_sum += loss.detach().double()
    torch.distributed.all_reduce(local_sum)
    loss = local_sum.item() / (accum * d.world_size)
    grad_norm = clip_gradients(model, cfg.optim.grad_clip)
    if not (math.isfinite(loss) and math.isfinite(grad_norm)):
        raise SystemExit(f"compare_hf: Hugging Face loss {loss}, gradient norm {grad_norm}")
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss, grad_norm
