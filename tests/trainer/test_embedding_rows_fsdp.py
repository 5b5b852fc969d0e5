"""The token-row embedding (trainer/embedding.py) on two gloo ranks, as a bare FSDP2 unit under a
root as trainer/parallelize.py wraps it, against the plain FSDP unit and an fp64 reference: the
gradient in fp32 and bf16 compute, with FSDP's custom divide factor, deterministic, summed
without touching other shards' rows, without [world x tokens, dim] fp32 temporaries, the path
chosen by bytes with FSDP's real dtypes, and the plain unit on a 2-D (HSDP) mesh. One spawned
group runs every check; the test reads its JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from trainer_support import _env

PROBE = """
import json
import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from torch.utils._python_dispatch import TorchDispatchMode
from trainer import embedding
from trainer.embedding import TokenEmbedding
from trainer.exit_codes import exit_process

dist.init_process_group("gloo")
rank = dist.get_rank()
V, D, T = 256, 16, 48  # T tokens per rank: rows are the fewer bytes in fp32 and in bf16
N = 2 * T  # ids gathered over the ranks
row0, n = rank * V // 2, V // 2  # this rank's shard
mesh = init_device_mesh("cpu", (2,))
BF16 = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
FP32 = MixedPrecisionPolicy()


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = TokenEmbedding(V, D)

    def forward(self, tokens):
        return self.emb.lookup(tokens)


def build(by_rows, mp, mesh=mesh, factor=None):
    torch.manual_seed(0)
    model = Model()
    fully_shard(model.emb, mesh=mesh, mp_policy=mp, reshard_after_forward=True)
    model.emb.set_unshard_in_backward(False)
    if factor is not None:
        model.emb.set_gradient_divide_factor(factor)
        model.emb.set_force_sum_reduction_for_comms(True)  # gloo has no ReduceOp.PREMUL_SUM
    fully_shard(model, mesh=mesh, mp_policy=mp)
    model.emb.by_rows = by_rows
    model.emb.dtype = mp.param_dtype  # as trainer/parallelize.py
    return model


def batch(r, t=T):  # rank r's tokens and output gradient, known to every rank
    gen = torch.Generator().manual_seed(10 + r)
    return torch.randint(0, V, (2, t // 2), generator=gen), torch.randn(2, t // 2, D, generator=gen)


def step(model, t=T, nan_at=None):
    tokens, g = batch(rank, t)
    if nan_at is not None:
        g[nan_at] = float("nan")
    out = model(tokens)
    (out.float() * g).sum().backward()
    return model.emb.weight.grad.to_local()


def reference(dtype, factor=2.0):
    # fp64 sums of the gradient rows as they reach the embedding (rounded to its compute dtype),
    # and of their magnitudes: this rank's shard
    ref, mag = torch.zeros(V, D, dtype=torch.float64), torch.zeros(V, D, dtype=torch.float64)
    count = torch.zeros(V, dtype=torch.float64)
    for r in range(2):
        tokens, g = batch(r)
        g = g.to(dtype).double().reshape(-1, D)
        ref.index_add_(0, tokens.reshape(-1), g)
        mag.index_add_(0, tokens.reshape(-1), g.abs())
        count.index_add_(0, tokens.reshape(-1), torch.ones(tokens.numel(), dtype=torch.float64))
    s = slice(row0, row0 + n)
    return ref[s] / factor, mag[s] / factor, count[s]


def rel(a, b, mag):
    return ((a.double() - b).abs() / (mag + 1e-30)).max().item()


class Record(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        outs = out if isinstance(out, (list, tuple)) else [out]
        self.ops.append((
            func.__name__,
            [(t.dtype, tuple(t.shape)) for t in outs if isinstance(t, torch.Tensor)],
            [t for t in args if isinstance(t, torch.Tensor) and t.dtype == torch.int64],
        ))
        return out


def fp32_rows(ops):  # [world x tokens, dim] fp32 tensors made
    return sum(1 for _, outs, _ in ops for dt, sh in outs if dt == torch.float32 and sh[:1] == (N,))


got = {}
# "host": what a CPU runs (its own rows picked out, added in order); "sorted": what a GPU runs
# (the sorted sum of aten embedding_dense_backward), run here by taking the CPU off the list
for backend, host_select in (("host", ("cpu",)), ("sorted", ())):
    embedding._HOST_SELECT = host_select
    for name, mp, dtype in (("fp32", FP32, torch.float32), ("bf16", BF16, torch.bfloat16)):
        ref, mag, count = reference(dtype)
        rows_model = build(True, mp)
        tokens, g = batch(rank)
        fwd, bwd = Record(), Record()
        with fwd:
            out = rows_model(tokens)
        loss = (out.float() * g).sum()
        with bwd:
            loss.backward()
        rows = rows_model.emb.weight.grad.to_local()
        again = step(build(True, mp))
        plain = step(build(False, mp))
        ids = torch.cat([batch(r)[0].reshape(-1) for r in range(2)])
        adds = ("index_add", "index_put", "scatter", "embedding_dense_backward")
        # every index tensor an adding op gets is one into this shard's rows: how often row 0
        writers = [
            (op, int((t == 0).sum()))
            for op, _, ints in bwd.ops
            if any(k in op for k in adds)
            for t in ints
        ]
        # the plain path sums each rank's rows in bf16 on CPU (aten's CPU embedding backward sums
        # in the input dtype): up to one rounding (2^-8 relative of the running sum) per term
        bound = count[:, None] * 2.0**-8 * mag + 1e-6 * mag + 1e-30
        got[f"{backend}-{name}"] = {
            "grad_fn": out.grad_fn.name(),
            "rows_vs_ref": rel(rows, ref, mag),
            "plain_vs_ref": rel(plain, ref, mag),
            "rows_vs_plain_within_bf16_bound": bool(((rows - plain).abs() <= bound).all()),
            "bitwise_equal_again": torch.equal(rows, again),
            "row0_writes": writers,
            "row0_tokens": int((ids == row0).sum()),
            "ops_bwd": sorted({op for op, _, _ in bwd.ops}),
            "fp32_rows_fwd": fp32_rows(fwd.ops),
            "fp32_rows_bwd": fp32_rows(bwd.ops),
            "max_count": count.max().item(),
        }

    # custom divide factor: what FSDP divides the plain path's gradient by, the rows path too
    ref, mag, _ = reference(torch.float32, factor=3.0)
    got[f"{backend}-factor"] = {
        "rows_vs_ref": rel(step(build(True, FP32, factor=3.0)), ref, mag),
        "plain_vs_ref": rel(step(build(False, FP32, factor=3.0)), ref, mag),
    }

    # another rank's non-finite gradient row stays in its owner's row: rank 1 sends a NaN to
    # one of rank 0's rows
    tokens, _ = batch(rank)
    flat = tokens.reshape(-1)
    theirs = [int((flat < n).nonzero()[0])] if rank == 1 else [0]
    dist.broadcast_object_list(theirs, src=1)
    i = theirs[0]
    at = (i // (T // 2), i % (T // 2), 0) if rank == 1 else None
    token = [int(flat[i])]
    dist.broadcast_object_list(token, src=1)
    grad = step(build(True, FP32), nan_at=at)
    bad = grad.isnan().any(dim=1).nonzero().reshape(-1).add(row0).tolist()
    got[f"{backend}-nan"] = {"rows_with_nan": bad, "token": token[0]}
embedding._HOST_SELECT = ("cpu",)

# the path chosen by bytes with FSDP's real dtypes: 2 x 144 ids > 256 vocab rows, rows are the
# fewer bytes in bf16 and not in fp32
got["path_t144"] = {
    name: build(True, mp)(batch(rank, 144)[0]).grad_fn.name() for name, mp in (("fp32", FP32), ("bf16", BF16))
}

# a 2-D mesh (HSDP, replicate x shard): the plain unit
mesh2 = init_device_mesh("cpu", (1, 2), mesh_dim_names=("replicate", "shard"))
ref, mag, _ = reference(torch.float32)
try:
    model = build(True, FP32, mesh=mesh2)
    grad = step(model)
    got["mesh2d"] = {
        "vs_ref": rel(grad, ref, mag),
        "placements": str(model.emb.weight.placements),
    }
except Exception as e:
    got["mesh2d"] = {"error": f"{type(e).__name__}: {e}"}

everyone = [None, None]
dist.all_gather_object(everyone, got)
if rank == 0:
    print(json.dumps(everyone))
dist.destroy_process_group()
exit_process(0)  # no interpreter finalization after gloo: it can abort (trainer/exit_codes.py)
"""


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """What each of the two ranks measured."""
    tmp = tmp_path_factory.mktemp("embedding_rows_fsdp")
    probe = tmp / "probe.py"
    probe.write_text(PROBE)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    p = subprocess.run(
        [*cmd, str(probe)], cwd=tmp, env=_env(), capture_output=True, text=True, timeout=180
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


BACKENDS = ["host", "sorted"]  # a CPU's backward, a GPU's (trainer/embedding.py add_rows)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_rows_give_the_plain_units_gradient(ranks, backend, dtype):
    for got in ranks:
        c = got[f"{backend}-{dtype}"]
        assert c["grad_fn"] == "_RowLookupBackward"
        # Rows: the exact fp64 sum of the gradient rows as the embedding receives them (in its
        # compute dtype), but for fp32 rounding: bf16 rows too are summed in fp32.
        assert c["rows_vs_ref"] <= 1e-6, c
        if dtype == "fp32":
            assert c["plain_vs_ref"] <= 1e-6, c
        else:
            # The plain unit sums each rank's rows in bf16 (aten's CPU embedding backward sums in
            # its input's dtype): one rounding of at most 2^-8 of the running magnitude per row
            # added, checked element by element in the probe.
            assert c["plain_vs_ref"] <= 2.0**-8 * c["max_count"], c
        assert c["rows_vs_plain_within_bf16_bound"], c


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_other_shards_ids_are_never_aimed_at_row_0(ranks, backend, dtype):
    for got in ranks:
        c = got[f"{backend}-{dtype}"]
        assert c["row0_writes"], c
        for op, aimed_at_row_0 in c["row0_writes"]:
            assert aimed_at_row_0 == c["row0_tokens"], (op, c)
        # deterministic: bitwise the same gradient from a second run (always so on CPU: a guard)
        assert c["bitwise_equal_again"]


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_a_gpus_backward_sums_sorted_rows_without_atomic_adds(ranks, dtype):
    # index_add_, index_put_ with accumulate and scatter_add_ are CUDA atomic adds: contended
    # on repeated rows and nondeterministic in order (torch.use_deterministic_algorithms lists
    # them)
    for got in ranks:
        ops = got[f"sorted-{dtype}"]["ops_bwd"]
        assert "embedding_dense_backward.default" in ops
        assert not any(k in op for op in ops for k in ("index_add", "index_put", "scatter")), ops


def test_bf16_rows_make_no_world_x_tokens_fp32_temporaries(ranks):
    for got in ranks:
        assert got["host-bf16"]["fp32_rows_fwd"] == 0, got["host-bf16"]
        assert got["host-bf16"]["fp32_rows_bwd"] == 0, got["host-bf16"]  # this shard's rows only
        assert got["sorted-bf16"]["fp32_rows_fwd"] == 0, got["sorted-bf16"]
        # one: the cast before the sum that only a CPU needs (trainer/embedding.py _summable);
        # CUDA's kernel sums bf16 in fp32 itself
        assert got["sorted-bf16"]["fp32_rows_bwd"] == 1, got["sorted-bf16"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_rows_path_divides_by_fsdps_custom_divide_factor(ranks, backend):
    for got in ranks:
        c = got[f"{backend}-factor"]
        assert c["plain_vs_ref"] <= 1e-6, c  # FSDP: the sum / 3
        assert c["rows_vs_ref"] <= 1e-6, c


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_non_finite_gradient_row_stays_in_its_owners_row(ranks, backend):
    rank0, rank1 = (got[f"{backend}-nan"] for got in ranks)
    assert rank0["rows_with_nan"] == [rank0["token"]]
    assert rank1["rows_with_nan"] == []


def test_the_path_is_chosen_by_bytes_with_fsdps_dtypes(ranks):
    # 2 x 144 ids against 256 vocab rows: rows are the fewer bytes only in bf16
    for got in ranks:
        assert got["path_t144"] == {"fp32": "EmbeddingBackward0", "bf16": "_RowLookupBackward"}


def test_a_2d_mesh_takes_the_plain_unit(ranks):
    for got in ranks:
        m = got["mesh2d"]
        assert "error" not in m, m
        assert m["placements"] == "(Replicate(), Shard(dim=0))"
        assert m["vs_ref"] <= 1e-6, m
