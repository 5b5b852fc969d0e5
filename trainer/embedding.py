"""The token embedding, looked up and differentiated by token rows, never as a [vocab, dim] matrix.

An embedding step touches only the rows of the tokens seen, but the plain FSDP path moves the
whole table twice per micro-batch: forward all-gathers the full [vocab, dim] weight on every
rank, and backward zero-fills a full [vocab, dim] gradient, adds the tokens' rows and
reduce-scatters the whole matrix (for Llama 3's 128k vocabulary at dim 4096: 1 GB in bf16 and
2.1 GB in fp32 per micro-batch and rank). Here the ranks exchange token rows instead, over the
data-parallel group, with the weight left sharded:

- forward: the token ids are all-gathered; each rank looks up the ones in its own shard (zeros
  elsewhere, in the compute dtype) and a reduce-scatter hands every rank its own tokens' rows. Each
  row comes from exactly one rank, so the sum adds only zeros: exact.
- backward: the ids' output gradients are all-gathered (in their own dtype, cast to fp32 after:
  exact), and each rank adds the rows of its shard straight into its sharded gradient, divided by
  the world size as FSDP2's mean reduction does.

The parameter (name, sharding, checkpoints, optimizer) is unchanged and stays FSDP's; FSDP just
never gathers or reduces it on this path. Rows are the smaller message while world size x tokens
per rank is at most the vocabulary's row count (`rows_are_smaller`); past that (many ranks, long
micro-batches) the module runs as a plain FSDP unit. On one rank nothing moves: the lookup reads
the weight in place and the rows go straight into its gradient.
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


def _size(group: dist.ProcessGroup | None) -> int:
    return 1 if group is None else dist.get_world_size(group)


def _gather(t: torch.Tensor, group: dist.ProcessGroup) -> torch.Tensor:
    """[n, ...] from every rank of the group, concatenated in rank order (same n on every rank:
    micro-batches have one shape)."""
    out = t.new_empty(_size(group) * t.shape[0], *t.shape[1:])
    dist.all_gather_into_tensor(out, t.contiguous(), group=group)
    return out


def _in_shard(ids: torch.Tensor, row0: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(which ids fall in rows [row0, row0 + n), their local row or 0). Other shards' ids are
    masked, not dropped: boolean indexing would make the host wait for the device."""
    mine = (ids >= row0) & (ids < row0 + n)
    return mine, torch.where(mine, ids - row0, 0)


def all_ids(param: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Every rank's token ids, flat, in rank order (this rank's alone on one rank); every rank
    of the group calls with the same number of tokens. Gathered once per micro-batch: forward
    and backward both use them."""
    _, _, group = _shard(param)
    ids = tokens.reshape(-1)
    return _gather(ids, group) if _size(group) > 1 else ids


def lookup_rows(param: torch.Tensor, ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[this rank's tokens, dim]: F.embedding with the full weight, in `dtype`, from the sharded
    `param`; `ids` from `all_ids`."""
    local, row0, group = _shard(param)
    world = _size(group)
    if world == 1:
        return F.embedding(ids, local).to(dtype)
    mine, index = _in_shard(ids, row0, local.shape[0])
    rows = torch.where(mine[:, None], F.embedding(index, local).to(dtype), 0.0)
    out = rows.new_empty(ids.numel() // world, rows.shape[1])
    dist.reduce_scatter_tensor(out, rows, group=group)  # one non-zero term per row: exact
    return out


def add_rows(param: torch.Tensor, ids: torch.Tensor, grad_rows: torch.Tensor) -> None:
    """param.grad += the embedding gradient of this rank's `grad_rows` ([tokens, dim]), summed
    over the group's ranks and divided by its size, into this rank's rows; `ids` from
    `all_ids`."""
    local, row0, group = _shard(param)
    rows = grad_rows.reshape(-1, local.shape[1])
    world = _size(group)
    if world > 1:
        rows = _gather(rows, group)
    rows = rows.to(local.dtype)  # after the exchange: exact, and summed in fp32 as FSDP does
    if world > 1:
        rows.div_(world)  # the gathered copy, not the caller's tensor
    mine, index = _in_shard(ids, row0, local.shape[0])
    rows = torch.where(mine[:, None], rows, 0.0)  # not a product: another shard's NaN stays out
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


class _RowLookup(torch.autograd.Function):
    """`lookup_rows` forward, `add_rows` backward: autograd gets no gradient for the weight, so
    FSDP has nothing to reduce for it (a unit without gradients returns before its
    reduce-scatter: torch 2.13 distributed/fsdp/_fully_shard/_fsdp_param_group.py,
    post_backward)."""

    @staticmethod
    def forward(ctx, tokens, weight, dtype):
        ids = all_ids(weight, tokens)
        ctx.save_for_backward(ids)
        ctx.weight = weight
        return lookup_rows(weight, ids, dtype).view(*tokens.shape, -1)

    @staticmethod
    def backward(ctx, grad_out):
        (ids,) = ctx.saved_tensors
        add_rows(ctx.weight, ids, grad_out)
        ctx.weight = None
        return None, None, None


class TokenEmbedding(nn.Embedding):
    """nn.Embedding (same parameter, same name). `lookup` is what the model calls: by rows once
    `by_rows` is set (trainer/parallelize.py sets it, and `dtype` to FSDP's compute dtype, for an
    untied embedding), else this module's own call, an FSDP unit's forward included."""

    by_rows: bool = False
    dtype: torch.dtype | None = None

    def lookup(self, tokens: torch.Tensor) -> torch.Tensor:
        # Outside a unit's forward FSDP2 registers the sharded parameter on the module: that is
        # the weight used here, and FSDP's hooks (gather, reduce) never run for it.
        weight = self.weight
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        rows = self.by_rows and rows_are_smaller(world, tokens.numel(), self.num_embeddings)
        # Training only: its micro-batches have one shape on every rank, as the exchange needs;
        # validation's last one may not, and is rare enough for the plain FSDP unit.
        if not (rows and torch.is_grad_enabled()):
            return self(tokens)
        return _RowLookup.apply(tokens, weight, self.dtype or weight.dtype)
