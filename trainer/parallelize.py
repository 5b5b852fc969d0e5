"""FSDP2 wrapping: activation checkpointing and torch.compile per block, fully_shard per block, on
the embedding, on the final norm with the output, and on the root; bf16 parameters with fp32
gradient reduction on GPUs with bf16 tensor cores."""

from __future__ import annotations

import torch
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard

from .activation_checkpoint import checkpointed
from .config_sections import ConfigError, ParallelConfig
from .model import Transformer


def native_bf16(device: torch.device) -> bool:
    """bf16 tensor cores: Ampere (sm_80) and newer. A T4 (sm_75) would emulate bf16 slowly."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 0)


def uses_bf16(cfg: ParallelConfig, device: torch.device) -> bool:
    if cfg.mixed_precision == "bf16":
        if device.type == "cuda" and not native_bf16(device):
            name = torch.cuda.get_device_name(device)
            raise ConfigError(
                [
                    f"parallel.mixed_precision=bf16: {name} has no bf16 tensor cores; "
                    "use auto or fp32"
                ]
            )
        return True
    return cfg.mixed_precision == "auto" and native_bf16(device)


def mixed_precision(cfg: ParallelConfig, device: torch.device) -> MixedPrecisionPolicy:
    if not uses_bf16(cfg, device):
        return MixedPrecisionPolicy()
    # Parameters gathered and computed in bf16; gradients reduced and kept in fp32 (the sharded
    # master copy stays fp32, so the optimizer never steps in bf16).
    return MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)


def parallelize(
    model: Transformer, mesh: DeviceMesh, cfg: ParallelConfig, device: torch.device
) -> Transformer:
    """Wrap in place (model still on the meta device); returns the model."""
    mp = mixed_precision(cfg, device)
    for i, block in enumerate(model.layers):
        block = checkpointed(block, cfg.activation_checkpointing)
        if cfg.compile:
            # One graph per block or an error, as torchtitan compiles its blocks
            # (pytorch/torchtitan@b5bcd76, torchtitan/distributed/compile.py): a graph break
            # would split the block silently and lose the fusions across it. FSDP's hooks on
            # the block run eagerly around the captured forward, outside its graph (whose inputs
            # are forward's arguments and the gathered parameters; the compiled cells of
            # tests/trainer/test_gpu_matrix.py run this under FSDP on one and two ranks).
            block.compile(fullgraph=True)
        model.layers[i] = block
    n = len(model.layers)
    # Units as torchtitan's apply_fsdp (pytorch/torchtitan@018740b,
    # torchtitan/models/llama3/infra/parallelize.py): the embedding, each block, and the final
    # norm with the output projection each their own unit, so none stays gathered for the
    # whole step. The root then holds no parameter of its own (only the rope buffers).
    # reshard_after_forward per unit: False where backward needs the unit right after the
    # forward ends (norm + output, which backward starts with, and the last block after it;
    # torchtitan reshards its last block, this trainer kept it gathered before and still does),
    # saving their all-gather at the start of backward for one unit's unsharded memory each;
    # True elsewhere. Prefetching is FSDP2's implicit one (on GPU, the next unit's all-gather
    # is issued on its own stream during the current unit's compute, in the order the units
    # ran); no explicit set_modules_to_*_prefetch: on this CPU gloo's collectives do not
    # overlap compute, so a deeper prefetch could not be measured here. Numbers: docs/trainer.md.
    tied = model.cfg.tie_embeddings
    if not tied:
        fully_shard(model.tok_embeddings, mesh=mesh, mp_policy=mp, reshard_after_forward=True)
        # When it runs as a plain FSDP unit (see by_rows below): an embedding's backward reads
        # only the token ids (aten embedding_dense_backward takes the weight's row count, not the
        # weight), so its unit is not gathered again for backward: one all-gather of the largest
        # parameter saved per micro-batch (FSDP2's set_unshard_in_backward names this case,
        # torch 2.13 distributed/fsdp/_fully_shard/_fully_shard.py).
        model.tok_embeddings.set_unshard_in_backward(False)
        # Looked up and differentiated by token rows while those are the smaller message
        # (trainer/embedding.py): then FSDP neither gathers nor reduces this unit, and the rows
        # travel in FSDP's compute dtype.
        model.tok_embeddings.by_rows = True
        model.tok_embeddings.dtype = mp.param_dtype
    for i, block in enumerate(model.layers):
        fully_shard(block, mesh=mesh, mp_policy=mp, reshard_after_forward=i < n - 1)
    if not tied:
        fully_shard(
            [model.norm, model.output], mesh=mesh, mp_policy=mp, reshard_after_forward=False
        )
        if mp.reduce_dtype == torch.float32 and mp.param_dtype not in (None, torch.float32):
            model.output.register_forward_pre_hook(_fp32_head_grads(model.norm))
    # Tied embeddings: one parameter used first and last in forward cannot sit in two units;
    # the root holds embedding, norm and output, gathered for the step as before.
    fully_shard(model, mesh=mesh, mp_policy=mp)
    return model


def _fp32_head_grads(norm: torch.nn.Module):
    """A forward pre-hook for the output projection: its weight's gradient, accumulated in fp32
    by the loss (trainer/loss.py), goes to FSDP2's fp32 reduce-scatter as it is, not rounded
    to bf16 for FSDP to cast back. The unit's unsharded parameters take fp32 gradients
    (torch 2.13 Tensor.grad_dtype; the autograd engine casts the norm's bf16 gradient up),
    both, as foreach_reduce refuses a unit whose gradients differ in dtype (torch 2.13
    _fsdp_collectives.py). Set on the unsharded parameters FSDP swapped in by now (its
    pre-forward hook was registered first); the same objects every step (_fsdp_param.py
    init_unsharded_param), so a check after the first. Memory: the fp32 gradient (4 bytes a
    weight element) beside the reduce-scatter's fp32 copy, where a bf16 one was 2:
    trainer/memory_model.py counts it."""

    def hook(output: torch.nn.Module, _args) -> None:
        for param in (norm.weight, output.weight):
            if param.grad_dtype != torch.float32:
                param.grad_dtype = torch.float32

    return hook


def reduce_after_micro_batch(model, last: bool, world_size: int) -> None:
    """Whether the coming backward reduces the gradients (FSDP2 set_requires_gradient_sync).
    Across ranks, every micro-batch: a unit's unsharded gradient kept between micro-batches would
    be world-size times its shard (an 8B model's full fp32 gradient on every GPU). On one rank
    the two are the same size and a reduction is only copies, so the gradients accumulate
    unsharded (FSDP2 keeps them in the reduce dtype) and are reduced once, after the last."""
    if not (isinstance(model, FSDPModule) and world_size == 1):
        return
    for module in model.modules():
        # The by-rows embedding's unit keeps its sync on: its forward never runs, so its group
        # is never gathered and has no unsharded parameter, yet the root's final callback still
        # runs its post_backward. Without sync that reads the unsharded parameter's gradient
        # (torch 2.13 _fsdp_param_group.py post_backward, the `not self.reduce_grads` branch ->
        # _fsdp_param.py to_accumulated_grad_if_needed) whenever a reduce dtype is set: bf16
        # raised AttributeError on `_unsharded_param`. With sync on, post_backward skips a
        # parameter never gathered and, without a gradient, reduces nothing; add_rows writes the
        # sharded gradient itself. Should the unit run its own forward instead (the dense
        # fallback), it reduces every micro-batch, as it does across ranks.
        if isinstance(module, FSDPModule) and not getattr(module, "by_rows", False):
            module.set_requires_gradient_sync(last, recurse=False)
