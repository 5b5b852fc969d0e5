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
- backward: the ids' output gradients are all-gathered in their own dtype, and each rank adds
  the rows of its shard into its sharded gradient, divided by what FSDP would divide it by (its
  gradient divide factor; by default the data-parallel size). On a GPU the rows are summed by a
  sorted, segmented sum (aten embedding_dense_backward, other shards' ids sent to its padding
  index, which it skips): no row is the target of contended atomics, and the sum is
  deterministic. On a CPU the shard's rows are picked out and added in order, in fp32.

The parameter (name, sharding, checkpoints, optimizer) is unchanged and stays FSDP's; FSDP just
never gathers or reduces it on this path. Rows are used while they are the fewer bytes to move
(`rows_move_fewer_bytes`); past that (many ranks, long micro-batches), on a 2-D mesh (HSDP), and
for nn.Embedding's options this path does not implement, the module runs as a plain FSDP unit.
On one rank nothing moves: the lookup reads the weight in place and the rows go straight into its
gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.distributed.fsdp import FSDPModule
from torch.distributed.tensor import DTensor
from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

_ID_BYTES = 8  # token ids travel as int64


def rows_move_fewer_bytes(
    world_size: int,
    tokens_per_rank: int,
    vocab_size: int,
    dim: int,
    param_dtype: torch.dtype,
    reduce_dtype: torch.dtype,
) -> bool:
    """Whether exchanging token rows moves no more bytes per micro-batch than the plain FSDP unit.

    `param_dtype` is FSDP's all-gather and compute dtype (the rows and their gradients travel in
    it), `reduce_dtype` its reduce-scatter dtype. With n = world_size x tokens_per_rank, the
    buffers each path exchanges:

    | path  | pass     | collective     | buffer                          | dtype        |
    |-------|----------|----------------|---------------------------------|--------------|
    | rows  | forward  | all-gather     | n token ids                     | int64        |
    | rows  | forward  | reduce-scatter | n x dim looked-up rows          | param_dtype  |
    | rows  | backward | all-gather     | n x dim output gradients        | param_dtype  |
    | plain | forward  | all-gather     | vocab x dim weight              | param_dtype  |
    | plain | backward | reduce-scatter | vocab x dim gradient            | reduce_dtype |

    The plain unit is not gathered again for backward (set_unshard_in_backward(False),
    trainer/parallelize.py). A ring all-gather and a ring reduce-scatter of a B-byte buffer both
    move (world - 1) / world x B per rank, so the buffer sizes compare directly. On one rank
    nothing moves either way, and adding the tokens' rows beats building the dense matrix first.
    """
    if world_size == 1:
        return True
    p = param_dtype.itemsize
    rows = world_size * tokens_per_rank * (_ID_BYTES + dim * (p + p))
    plain = vocab_size * dim * (p + reduce_dtype.itemsize)
    return rows <= plain


@dataclass(frozen=True)
class FsdpReduction:
    """What FSDP2 does with the embedding's gradient on its plain path, which the rows path
    reproduces: the dtypes it gathers and reduces in, and what it divides the sum by."""

    param_dtype: torch.dtype
    reduce_dtype: torch.dtype
    divide_factor: float


def fsdp_reduction(module: nn.Module, weight: torch.Tensor, world_size: int) -> FsdpReduction:
    """Read from the module's FSDP state (torch 2.13 distributed/fsdp/_fully_shard): dtypes as
    _fsdp_param.py init_dtype_attrs (the weight's own where the policy says none; reduction in
    the gathered dtype unless reduce_dtype is set), and the divide factor as
    _fsdp_collectives.py _get_gradient_divide_factors: set_gradient_divide_factor's value, else
    the data-parallel size (on one rank: none). A module FSDP does not manage: its own dtype, the
    mean over `world_size`."""
    if not isinstance(module, FSDPModule):
        return FsdpReduction(weight.dtype, weight.dtype, float(world_size))
    group = module._get_fsdp_state()._fsdp_param_group
    assert group is not None, "an FSDP embedding unit without parameters"
    param_dtype = group.mp_policy.param_dtype or weight.dtype
    reduce_dtype = group.mp_policy.reduce_dtype or param_dtype
    factor = group.gradient_divide_factor
    return FsdpReduction(param_dtype, reduce_dtype, float(world_size if factor is None else factor))


def _shard(param: torch.Tensor) -> tuple[torch.Tensor, int, dist.ProcessGroup | None]:
    """(this rank's rows, the first row's index, the group that shards them). FSDP2 shards
    dim 0 over a 1-D mesh, torch.chunk-style."""
    if not isinstance(param, DTensor):
        return param.detach(), 0, None
    if param.device_mesh.ndim != 1:  # TokenEmbedding.lookup takes the plain unit there
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


def _local_index(
    ids: torch.Tensor, row0: int, n: int, elsewhere: int, skip: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(which ids fall in rows [row0, row0 + n) and are not `skip`, their local row or
    `elsewhere`). Other shards' ids are masked, not dropped: boolean indexing would make the
    host wait for the device."""
    mine = (ids >= row0) & (ids < row0 + n)
    if skip is not None:
        mine &= ids != skip
    return mine, torch.where(mine, ids - row0, elsewhere)


def all_ids(param: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Every rank's token ids, flat, in rank order (this rank's alone on one rank); every rank
    of the group calls with the same number of tokens. Gathered once per micro-batch: forward
    and backward both use them."""
    _, _, group = _shard(param)
    ids = tokens.reshape(-1)
    return _gather(ids, group) if _size(group) > 1 else ids


def _embed(local: torch.Tensor, index: torch.Tensor, dtype: torch.dtype, per_rank: int):
    """F.embedding(index, local) in `dtype`. When that is a cast (fp32 shard, bf16 compute), one
    rank's tokens at a time: no [world x tokens, dim] temporary in the shard's dtype."""
    if local.dtype == dtype:
        return F.embedding(index, local)
    out = local.new_empty(index.numel(), local.shape[1], dtype=dtype)
    for rows, part in zip(out.split(per_rank), index.split(per_rank), strict=True):
        rows.copy_(F.embedding(part, local))
    return out


def lookup_rows(param: torch.Tensor, ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[this rank's tokens, dim]: F.embedding with the full weight, in `dtype`, from the sharded
    `param`; `ids` from `all_ids`."""
    local, row0, group = _shard(param)
    world = _size(group)
    if world == 1:
        return F.embedding(ids, local).to(dtype)
    per_rank = ids.numel() // world
    mine, index = _local_index(ids, row0, local.shape[0], elsewhere=0)  # row 0 read, then zeroed
    rows = _embed(local, index, dtype, per_rank)
    rows.masked_fill_(~mine[:, None], 0)  # in place: a fill, so another shard's NaN stays out
    out = rows.new_empty(per_rank, rows.shape[1])
    dist.reduce_scatter_tensor(out, rows, group=group)  # one non-zero term per row: exact
    return out


# Devices where this rank's rows are picked out on the host and added in order: on a CPU the
# host waits for nothing, index_add_ is sequential (deterministic) and the gradient needs no
# temporary the size of the shard. Elsewhere (a GPU) the sorted sum below.
_HOST_SELECT = ("cpu",)


def _summable(rows: torch.Tensor) -> torch.Tensor:
    """`rows` as embedding_dense_backward should get them to sum in fp32. CUDA's kernel already
    sums half and bf16 in fp32 (acc_type partial segments, one rounding per row written:
    pytorch aten/src/ATen/native/cuda/EmbeddingBackwardKernel.cu, read at commit d2999467, not
    at the v2.13.0 tag); torch 2.13's CPU kernel sums in the input's own dtype (4096 bf16 ones
    sum to 256), so there they are cast first."""
    if rows.device.type == "cuda" or rows.dtype in (torch.float32, torch.float64):
        return rows
    return rows.float()


def _sorted_sum(rows: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """[n, dim]: the rows summed per local row, `index` n (the padding index) for rows to skip.
    aten embedding_dense_backward sorts the indices and sums each row's segment without
    contended atomics, in a fixed order (CUDA, pytorch aten/src/ATen/native/cuda/Embedding.cu at
    commit 1c94016e: a radix sort, then segment sums; up to 3072 ids a kernel that serializes a
    warp's equal rows instead) and skips the padding index. One row longer than the shard, so
    row n is a valid index for any backend, bounds-checked or not; the view leaves it out."""
    return torch.ops.aten.embedding_dense_backward(_summable(rows), index, n + 1, n, False)[:n]


def add_rows(
    param: torch.Tensor,
    ids: torch.Tensor,
    grad_rows: torch.Tensor,
    divide_factor: float = 1.0,
    padding_idx: int | None = None,
) -> None:
    """param.grad += the embedding gradient of this rank's `grad_rows` ([tokens, dim]), summed
    over the group's ranks, divided by `divide_factor`, into this rank's rows; `ids` from
    `all_ids`. No gradient for `padding_idx`'s row, as nn.Embedding."""
    local, row0, group = _shard(param)
    n, dim = local.shape
    rows = grad_rows.reshape(-1, dim)
    if _size(group) > 1:
        rows = _gather(rows, group)  # in their own dtype: exact, and half the bytes in bf16
    # Other shards' ids (and padding_idx) go to row n, never to a row of this shard: aimed at row
    # 0, a GPU's index_add_ would serialize millions of atomic adds of zeros there, in a
    # nondeterministic order.
    mine, index = _local_index(ids, row0, n, elsewhere=n, skip=padding_idx)
    scale = 1.0 / divide_factor  # as NCCL's PREMUL_SUM for FSDP's custom factor; rounding only
    g = param.grad
    grad = None if g is None else g.to_local() if isinstance(g, DTensor) else g
    if rows.device.type in _HOST_SELECT:
        keep = mine.nonzero().squeeze(1)  # a host sync, free on a CPU
        if keep.numel() < index.numel():
            rows, index = rows.index_select(0, keep), index.index_select(0, keep)
        if grad is None:
            grad = torch.zeros_like(local)
        grad.index_add_(0, index, rows.to(grad.dtype), alpha=scale)  # fp32, in order
    elif grad is not None:
        grad.add_(_sorted_sum(rows, index, n), alpha=scale)
    else:
        summed = _sorted_sum(rows, index, n)
        grad = summed if summed.dtype == local.dtype else summed.to(local.dtype)
        if scale != 1.0:
            grad.mul_(scale)
    if g is not None:
        return
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


class _RowLookup(torch.autograd.Function):
    """`lookup_rows` forward, `add_rows` backward: autograd gets no gradient for the weight, so
    FSDP has nothing to reduce for it (a unit without gradients returns before its
    reduce-scatter: torch 2.13 distributed/fsdp/_fully_shard/_fsdp_param_group.py,
    post_backward)."""

    @staticmethod
    def forward(ctx, tokens, weight, dtype, divide_factor, padding_idx):
        ids = all_ids(weight, tokens)
        ctx.save_for_backward(ids)
        ctx.weight = weight
        ctx.divide_factor = divide_factor
        ctx.padding_idx = padding_idx
        return lookup_rows(weight, ids, dtype).view(*tokens.shape, -1)

    @staticmethod
    def backward(ctx, grad_out):
        (ids,) = ctx.saved_tensors
        add_rows(ctx.weight, ids, grad_out, ctx.divide_factor, ctx.padding_idx)
        ctx.weight = None
        return None, None, None, None, None


class TokenEmbedding(nn.Embedding):
    """nn.Embedding (same parameter, same name). `lookup` is what the model calls: by rows once
    `by_rows` is set (trainer/parallelize.py sets it for an untied embedding) and rows are the
    cheaper exchange, else this module's own call, an FSDP unit's forward included. `dtype`
    overrides the compute dtype, which is otherwise FSDP's param_dtype (parallelize.py sets it to
    the same)."""

    by_rows: bool = False
    dtype: torch.dtype | None = None

    def lookup(self, tokens: torch.Tensor) -> torch.Tensor:
        # Outside a unit's forward FSDP2 registers the sharded parameter on the module: that is
        # the weight used here, and FSDP's hooks (gather, reduce) never run for it.
        weight = self.weight
        mesh = weight.device_mesh if isinstance(weight, DTensor) else None
        # Training only: its micro-batches have one shape on every rank, as the exchange needs;
        # validation's last one may not, and is rare enough for the plain FSDP unit. A 2-D mesh
        # (HSDP) shards over one dimension and replicates over the other: plain unit too, as do
        # nn.Embedding's options this path does not implement.
        plain_only = self.max_norm is not None or self.scale_grad_by_freq or self.sparse
        if not self.by_rows or not torch.is_grad_enabled() or plain_only:
            return self(tokens)
        if mesh is not None and mesh.ndim != 1:
            return self(tokens)
        world = 1 if mesh is None else mesh.size()
        fsdp = fsdp_reduction(self, weight, world)
        dim = self.embedding_dim
        if not rows_move_fewer_bytes(
            world, tokens.numel(), self.num_embeddings, dim, fsdp.param_dtype, fsdp.reduce_dtype
        ):
            return self(tokens)
        dtype = self.dtype or fsdp.param_dtype
        return _RowLookup.apply(tokens, weight, dtype, fsdp.divide_factor, self.padding_idx)
