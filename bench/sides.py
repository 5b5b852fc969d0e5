"""The three contestants of bench/compare.py, each built on the same config, mesh and device and
returned as `step(micro_batches)`: one optimizer step over the rank's micro-batches.

- trainstack: the trainer's own path (`build_model`, `build_optimizer`, `train_step`).
- hf: transformers' `LlamaForCausalLM` of the same shape, FSDP2 per decoder layer and on the
  root, with the trainer's mixed precision (bench/hf_llama.py).
- titan: torchtitan's Llama 3 model and its own FSDP2 wrapping (`apply_fsdp_to_decoder`), its
  meta-device build and `init_states`, plain cross-entropy (its loss's math), with
  trainer.train's AdamW and clipping. Not its Trainer: that needs its HF dataset and
  tokenizer assets.
  torchtitan 0.3.0 picks its device at import (`torchtitan/tools/utils.py`:
  `_get_available_device_type() or "cuda"`), so on a CPU-only machine `_cpu_torchtitan` points
  it at "cpu" (torch.cpu) before any other torchtitan module reads it; on a GPU nothing changes.
"""

from __future__ import annotations

import torch
from torch.distributed.fsdp import FSDPModule

from trainer import batches, config, distributed
from trainer.train import build_model, build_optimizer, clip_gradients, train_step

SIDES = ("trainstack", "hf", "titan")


def _trainstack(cfg: config.TrainConfig, d: distributed.Dist):
    model = build_model(cfg, d)
    opt, sched = build_optimizer(model, cfg, d.device)
    state = {"step": 0}

    def step(mbs) -> None:
        state["step"] += 1
        train_step(model, opt, mbs, cfg, d, state["step"])
        sched.step()

    return step, model.num_params(), None


def _hf(cfg: config.TrainConfig, d: distributed.Dist):
    from hf_llama import build_hf, hf_train_step, shard_hf

    model, version = build_hf(cfg)
    n = model.num_parameters()
    shard_hf(model, cfg, d)
    opt, sched = build_optimizer(model, cfg, d.device)

    def step(mbs) -> None:
        hf_train_step(model, opt, mbs, cfg, d)
        sched.step()

    return step, n, f"transformers {version}"


def _cpu_torchtitan() -> None:
    import torchtitan.tools.utils as tt_utils

    if tt_utils._get_available_device_type() is None:
        tt_utils.device_type, tt_utils.device_module = "cpu", torch.cpu


def _titan(cfg: config.TrainConfig, d: distributed.Dist):
    _cpu_torchtitan()
    import torchtitan
    from torchtitan.distributed.fsdp import apply_fsdp_to_decoder
    from torchtitan.models.common import Embedding, Linear, RMSNorm
    from torchtitan.models.common.attention import ScaledDotProductAttention
    from torchtitan.models.common.rope import ComplexRoPE
    from torchtitan.models.llama3 import Llama3Model, _build_llama3_layers, _output_linear_init

    m = cfg.model
    norm_init = {"weight": torch.nn.init.ones_}
    mc = Llama3Model.Config(
        dim=m.dim,
        vocab_size=m.vocab_size,
        tok_embeddings=Embedding.Config(
            num_embeddings=m.vocab_size,
            embedding_dim=m.dim,
            param_init={"weight": torch.nn.init.normal_},
        ),
        norm=RMSNorm.Config(normalized_shape=m.dim, eps=m.norm_eps, param_init=norm_init),
        lm_head=Linear.Config(
            in_features=m.dim, out_features=m.vocab_size, param_init=_output_linear_init(m.dim)
        ),
        layers=_build_llama3_layers(
            fuse_qkv=False,
            n_layers=m.n_layers,
            dim=m.dim,
            n_heads=m.n_heads,
            n_kv_heads=m.n_kv_heads,
            hidden_dim=m.ffn_hidden,
            rope=ComplexRoPE.Config(
                dim=m.head_dim, max_seq_len=cfg.seq_len, theta=m.rope_theta, scaling="none"
            ),
            attn_backend="flex",
        ),
        enable_weight_tying=m.tie_embeddings,
    )
    flex = d.device.type != "cpu"
    if not flex:
        # torchtitan 0.3.0 no longer offers SDPA for language models by name
        # (models/common/config_utils.py: get_attention_config), because its dataloaders emit
        # per-document positions; flex attention has no backward on CPU in torch 2.13. Here every
        # sequence is one causal document, so its own ScaledDotProductAttention module
        # (models/common/attention.py, is_causal=True, as Flux builds it) computes the same.
        for layer in mc.layers:
            layer.attention.inner_attention = ScaledDotProductAttention.Config()
    with torch.device("meta"):
        model = mc.build()
    apply_fsdp_to_decoder(
        model,
        d.mesh,
        param_dtype=torch.float32,
        reduce_dtype=torch.float32,
        pp_enabled=False,
    )
    if not flex:
        # apply_fsdp_to_decoder turns FSDP's gradient division off (its trainer scales the loss
        # by the global token count), which asks for PREMUL_SUM(1.0): not in gloo. Plain SUM
        # with FSDP's own post-scaling (by 1.0) is the same reduction.
        for module in model.modules():
            if isinstance(module, FSDPModule):
                module.set_force_sum_reduction_for_comms(True)
    model.to_empty(device=d.device)
    with torch.no_grad():
        model.init_states(buffer_device=None)
    model.train()
    n = sum(p.numel() for p in model.parameters())  # a DTensor's numel is the global one
    opt, sched = build_optimizer(model, cfg, d.device)

    # torchtitan 0.3.0 dropped SDPA for language models: flex attention with a causal mask over
    # each whole sequence (positions 0..T-1, one document), built once as the shape never changes.
    masks = {}

    def step(mbs) -> None:
        accum = len(mbs)
        for mb in mbs:
            inputs, targets = batches.split(mb, d.device)
            if not flex:
                logits = model(inputs)
            else:
                if inputs.shape not in masks:
                    pos = torch.arange(inputs.shape[1], device=d.device).expand(inputs.shape)
                    masks[inputs.shape] = (pos, model.get_attention_masks(positions=pos))
                pos, mask = masks[inputs.shape]
                logits = model(inputs, positions=pos, attention_masks=mask)
            loss = torch.nn.functional.cross_entropy(
                logits.flatten(0, 1).float(), targets.flatten()
            )
            # Gradients are summed over ranks (no FSDP division): the global mean, as the others.
            (loss / (accum * d.world_size)).backward()
        clip_gradients(model, cfg.optim.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sched.step()

    return step, n, f"torchtitan {torchtitan.__version__}"


BUILDERS = {"trainstack": _trainstack, "hf": _hf, "titan": _titan}
