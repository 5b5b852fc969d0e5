"""The embedding's gradient as token rows (trainer/embedding.py): the same gradient as the dense
path on one process and sharded over two ranks, accumulated over micro-batches, NaN kept in its
own row, and the dense path chosen when rows would move more bytes. Two ranks of a bare FSDP
embedding unit: tests/trainer/test_embedding_rows_fsdp.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from trainer_support import _env

from trainer.embedding import TokenEmbedding, rows_move_fewer_bytes


def _pair(vocab=50, dim=8):
    torch.manual_seed(0)
    rows = TokenEmbedding(vocab, dim)
    rows.by_rows = True
    dense = torch.nn.Embedding(vocab, dim)
    dense.weight.data.copy_(rows.weight.data)
    return rows, dense


def test_row_gradients_equal_the_dense_ones_and_accumulate():
    rows, dense = _pair()
    for _ in range(2):  # two micro-batches: the second adds into the first's gradient
        tokens = torch.randint(0, 50, (3, 40))  # 120 lookups of 50 rows: many repeats
        g = torch.randn(3, 40, 8)
        (rows.lookup(tokens) * g).sum().backward()
        (dense(tokens) * g).sum().backward()
    # The same sums; the second micro-batch's rows go straight into the first's, where the dense
    # path sums them apart first: rounding only.
    torch.testing.assert_close(rows.weight.grad, dense.weight.grad, rtol=1e-6, atol=1e-6)
    assert rows.lookup(tokens).grad_fn.name() == "_RowLookupBackward"  # not nn.Embedding's own


def test_a_non_finite_row_stays_in_its_row():
    rows, dense = _pair()
    tokens = torch.tensor([[3, 7, 3, 9]])
    g = torch.ones(1, 4, 8)
    g[0, 1, 0] = float("nan")  # token 7's gradient
    (rows.lookup(tokens) * g).sum().backward()
    (dense(tokens) * g).sum().backward()
    torch.testing.assert_close(rows.weight.grad, dense.weight.grad, equal_nan=True)
    assert rows.weight.grad[7].isnan().any() and rows.weight.grad[[3, 9]].isfinite().all()


def test_no_grad_and_untouched_modules_take_the_plain_lookup(monkeypatch):
    rows, _ = _pair()
    off = TokenEmbedding(50, 8)  # by_rows not set: nn.Embedding's own backward
    assert off.lookup(torch.tensor([[1]])).grad_fn.name() == "EmbeddingBackward0"
    calls = []
    monkeypatch.setattr(torch.nn.Embedding, "forward", lambda self, t: calls.append(t) or t)
    with torch.no_grad():  # validation: its last micro-batch may differ from rank to rank
        rows.lookup(torch.tensor([[1, 2]]))
    assert len(calls) == 1


BF16, FP32 = torch.bfloat16, torch.float32


@pytest.mark.parametrize(
    ("world", "tokens", "vocab", "dim", "param", "reduce", "rows"),
    [
        (1, 512, 384, 64, FP32, FP32, True),  # one rank: no exchange, rows always
        (8, 8192, 128256, 4096, BF16, FP32, True),
        # 131072 rows > 128256 vocab rows, but they travel in bf16 and the plain unit's gradient
        # in fp32: 2.1 GB of rows against 3.2 GB of table (world x tokens <= vocab said plain)
        (16, 8192, 128256, 4096, BF16, FP32, True),
        (16, 8192, 128256, 4096, FP32, FP32, False),  # all fp32: rows only below the vocab size
        (24, 8192, 128256, 4096, BF16, FP32, False),
        # 1024 rows of 64 + an 8-byte id each outweigh the 1024-row table (world x tokens <=
        # vocab said rows)
        (2, 512, 1024, 64, FP32, FP32, False),
        (2, 512, 1024, 64, BF16, FP32, True),
        (2, 512, 384, 64, BF16, BF16, False),
    ],
)
def test_rows_are_exchanged_only_when_they_move_fewer_bytes(
    world, tokens, vocab, dim, param, reduce, rows
):
    assert rows_move_fewer_bytes(world, tokens, vocab, dim, param, reduce) is rows


# Two ranks, FSDP2 as the trainer wraps it, each rank its own tokens: by rows, the losses equal
# the plain FSDP unit's exactly (the lookup adds only zeros), and the sharded embedding gradient
# equals the one FSDP reduce-scatters from the dense gradient, over two micro-batches; FSDP never
# gathers the embedding's unit.
PROBE = """
import json
import torch
from torch.distributed.fsdp._fully_shard._fsdp_param_group import FSDPParamGroup
from trainer import config, distributed, train
from trainer.exit_codes import exit_process

gathered = []
real_unshard = FSDPParamGroup.unshard
def unshard(self, *a, **k):
    gathered.append(self._module_fqn)
    return real_unshard(self, *a, **k)
FSDPParamGroup.unshard = unshard

cfg = config.build("tiny", {"model": {"tie_embeddings": False, "vocab_size": 1000}})
d = distributed.init()
grads, losses, units = {}, {}, {}
for rows in (True, False):
    model = train.build_model(cfg, d)
    model.tok_embeddings.by_rows = rows
    gen = torch.Generator().manual_seed(100 + d.rank)  # each rank its own tokens
    gathered.clear()
    losses[rows] = []
    for _ in range(2):
        tokens = torch.randint(0, 1000, (2, cfg.seq_len + 1), generator=gen)
        loss = model(tokens[:, :-1], tokens[:, 1:])
        (loss / 1000).backward()
        losses[rows].append(loss.item())
    grads[rows] = model.tok_embeddings.weight.grad
    units[rows] = sorted(set(gathered))
diff = (grads[True].full_tensor() - grads[False].full_tensor()).abs().max().item()
scale = grads[False].full_tensor().abs().max().item()
if d.rank == 0:
    print(json.dumps({"diff": diff, "scale": scale, "placements": str(grads[True].placements),
                      "local_rows": grads[True].to_local().shape[0], "losses": losses,
                      "gathered": units}))
distributed.shutdown()
exit_process(0)  # no interpreter finalization after gloo: it can abort (trainer/exit_codes.py)
"""


def test_two_ranks_get_the_lookup_and_gradient_of_the_plain_fsdp_unit(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    p = subprocess.run(
        [*cmd, str(probe)], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=180
    )
    assert p.returncode == 0, p.stderr[-3000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["losses"]["true"] == got["losses"]["false"]
    assert "tok_embeddings" in got["gathered"]["false"]
    assert "tok_embeddings" not in got["gathered"]["true"]
    assert got["placements"] == "(Shard(dim=0),)" and got["local_rows"] == 500
    assert got["scale"] > 0
    # Same sums in another order: rounding only.
    assert got["diff"] <= 1e-6 * got["scale"], got
