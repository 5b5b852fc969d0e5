"""The token embedding, whose gradient travels as token rows instead of a [vocab, dim] matrix.

An embedding's gradient is non-zero only in the rows of the tokens seen. The plain path still
builds it dense: every rank zero-fills a full [vocab, dim] gradient per micro-batch, adds its
tokens' rows, and FSDP reduce-scatters the whole matrix (for Llama 3's 128k vocabulary at dim
4096, 2.1 GB per micro-batch and rank). Here backward instead exchanges what the gradient is made
of, the token ids and their [tokens, dim] output gradients, all-gathered over the data-parallel
ranks; each rank adds the rows that fall in its own shard straight into its sharded gradient.
Same sum, divided by the world size as FSDP2's mean reduction does; the parameter (name,
sharding, checkpoints, optimizer) is unchanged, and FSDP still gathers it for forward.

Rows are exchanged only when they are the smaller message: world size x tokens per rank up to
the vocabulary's row count (`rows_are_smaller`). Past that (many ranks, long micro-batches) the
dense gradient and FSDP's reduce-scatter are cheaper and are used. On one rank there is nothing
to exchange: the rows always go straight into the gradient, with no [vocab, dim] temporary.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.distributed.tensor import DTensor
from torch.distributed.tensor._utils import compute_local_shape_and_global_offset


def rows_are_smaller(world_size: int, tokens_per_rank: int, vocab_size: int) -> bool:
    """All-gathering world x tokens rows moves no more than reduce-scattering vocab rows. On one
    rank nothing moves, and adding rows always beats building the dense matrix to add it."""
    return world_size == 1 or world_size * tokens_per_rank <= vocab_size


def _shard(param: torch.Tensor) -> tuple[torch.Tensor, int, dist.ProcessGroup | None]:
    """(this rank's rows, the first row's index, the group that shards them). FSDP2 shards
    dim 0 over a 1-D mesh, torch.chunk-style."""
    if not isinstance(param, DTensor):
        return param.detach(), 0, None
    if param.device_mesh.ndim != 1:
        raise NotImplementedError(f"embedding rows over a {param.device_mesh.ndim}-D mesh")
    _, offset = compute_local_shape_and_global_offset(
        param.shape, param.device_mesh, param.placements
    )
    return param.to_local().detach(), offset[0], param.device_mesh.get_group()


def add_rows(param: torch.Tensor, tokens: torch.Tensor, grad_rows: torch.Tensor) -> None:
    """param.grad += the embedding gradient of `grad_rows` ([n, dim], one per token id in
    `tokens`), summed over the group's ranks and divided by its size, into this rank's rows.
    Every rank of the group calls it with the same number of tokens."""
    local, row0, group = _shard(param)
    ids = tokens.reshape(-1)
    rows = grad_rows.reshape(ids.numel(), -1).to(local.dtype)  # FSDP reduces in fp32 too
    if group is not None and dist.get_world_size(group) > 1:
        world = dist.get_world_size(group)
        all_ids = ids.new_empty(world * ids.numel())
        all_rows = rows.new_empty(world * rows.shape[0], rows.shape[1])
        dist.all_gather_into_tensor(all_ids, ids.contiguous(), group=group)
        dist.all_gather_into_tensor(all_rows, rows.contiguous(), group=group)
        ids, rows = all_ids, all_rows.div_(world)
    # Rows of other shards are dropped without a host sync (no boolean indexing): they add an
    # exact zero to row 0 instead. torch.where, not a product, so another shard's NaN stays out.
    mine = (ids >= row0) & (ids < row0 + local.shape[0])
    index = torch.where(mine, ids - row0, 0)
    rows = torch.where(mine[:, None], rows, 0.0)
    if param.grad is None:
        grad = torch.zeros_like(local)
        grad.index_add_(0, index, rows)
        if isinstance(param, DTensor):
            grad = DTensor.from_local(
                grad,
                param.device_mesh,
                param.placements,
                shape=param.shape,
                stride=param.stride(),
                run_check=False,
            )
        param.grad = grad
    else:
        g = param.grad
        (g.to_local() if isinstance(g, DTensor) else g).index_add_(0, index, rows)


class _RowGradLookup(torch.autograd.Function):
    """F.embedding whose backward adds rows into the sharded gradient (`add_rows`) and hands
    autograd no gradient for the (gathered) weight, so FSDP has nothing to reduce for it (a unit
    without gradients returns before its reduce-scatter: torch 2.13
    distributed/fsdp/_fully_shard/_fsdp_param_group.py, post_backward)."""

    @staticmethod
    def forward(ctx, tokens, weight, module):
        ctx.save_for_backward(tokens)
        ctx.module = module
        return F.embedding(tokens, weight)

    @staticmethod
    def backward(ctx, grad_out):
        (tokens,) = ctx.saved_tensors
        # Outside forward FSDP2 registers the sharded parameter on the module again (the unit
        # reshards after forward and is not gathered for backward: trainer/parallelize.py).
        add_rows(ctx.module.weight, tokens, grad_out)
        ctx.module = None
        return None, None, None


class TokenEmbedding(nn.Embedding):
    """nn.Embedding (same parameter, same name) with row gradients once `row_grads` is set;
    trainer/parallelize.py sets it for an untied embedding."""

    row_grads: bool = False

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        if not (self.row_grads and torch.is_grad_enabled() and weight.requires_grad):
            return super().forward(tokens)
        world = 1
        if dist.is_available() and dist.is_initialized():
            world = dist.get_world_size()
        if not rows_are_smaller(world, tokens.numel(), self.num_embeddings):
            return super().forward(tokens)
        return _RowGradLookup.apply(tokens, weight, self)
