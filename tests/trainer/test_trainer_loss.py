"""The chunked, fused cross-entropy (trainer/loss.py and its parts): the same losses and gradients
as the full-logits path in fp32 and bf16, chunks sized by the memory rule, and a peak memory that
no longer grows with tokens x vocabulary."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from trainer_support import _env

from trainer import config, loss_elementwise, loss_traffic
from trainer.loss import CHUNK_ELEMENTS, IGNORE_INDEX, chunk_tokens, linear_cross_entropy
from trainer.loss_chunks import scratch_rows
from trainer.model import Transformer


def full_path(h, w, targets):
    """What train_step computed before: full logits, an fp32 copy, per-token losses."""
    logits = F.linear(h, w)
    return F.cross_entropy(logits.flatten(0, -2).float(), targets.flatten(), reduction="none")


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
@pytest.mark.parametrize("scale", [1.0, 0.037])
def test_loss_and_gradients_match_the_full_logits(chunk, scale):
    torch.manual_seed(0)
    h = torch.randn(3, 13, 16, requires_grad=True)
    w = (0.3 * torch.randn(50, 16)).requires_grad_()
    targets = torch.randint(0, 50, (3, 13))
    targets[1, 4] = IGNORE_INDEX

    want = full_path(h, w, targets).sum()
    (want * scale).backward()
    want_h, want_w = h.grad.clone(), w.grad.clone()
    h.grad = w.grad = None

    # Gradients are formed in forward; the scalar that backward brings (a mean's 1/tokens, the
    # trainer's NaN poison) must still reach every one of them.
    got = linear_cross_entropy(h, w, targets, chunk=chunk)
    (got * scale).backward()
    assert got.dtype == torch.float32 and got.shape == ()
    torch.testing.assert_close(got, want.detach(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(h.grad, want_h, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(w.grad, want_w, rtol=1e-5, atol=1e-6)


def test_an_ignored_target_adds_nothing_to_the_loss_or_the_gradients():
    torch.manual_seed(1)
    h = torch.randn(4, 8, requires_grad=True)
    w = torch.randn(20, 8, requires_grad=True)
    targets = torch.tensor([3, IGNORE_INDEX, 7, IGNORE_INDEX])
    loss = linear_cross_entropy(h, w, targets, chunk=3)
    loss.backward()
    keep = targets != IGNORE_INDEX
    assert loss.item() == pytest.approx(
        F.cross_entropy(h[keep] @ w.t(), targets[keep], reduction="sum").item(), rel=1e-6
    )
    assert h.grad[~keep].abs().max() == 0


def test_a_nan_from_backward_reaches_every_gradient():
    # train_step multiplies the loss by NaN when it is non-finite on one rank, so that the global
    # gradient norm carries the verdict; the gradients formed in forward must not escape it.
    h = torch.randn(5, 8, requires_grad=True)
    w = torch.randn(20, 8, requires_grad=True)
    (linear_cross_entropy(h, w, torch.randint(0, 20, (5,)), chunk=2) * float("nan")).backward()
    assert torch.isnan(h.grad).all() and torch.isnan(w.grad).all()


def test_without_gradients_nothing_is_kept_for_backward():
    h = torch.randn(6, 8, requires_grad=True)
    w = torch.randn(20, 8, requires_grad=True)
    with torch.no_grad():
        loss = linear_cross_entropy(h, w, torch.randint(0, 20, (6,)))
    assert loss.grad_fn is None and loss.shape == ()


@pytest.mark.parametrize("tied", [True, False])
def test_the_model_with_targets_is_the_model_then_cross_entropy(tied):
    cfg = config.build("tiny", {"model": {"tie_embeddings": tied}})
    with torch.device("meta"):
        model = Transformer(cfg.model, rope_len=cfg.seq_len)
    model.to_empty(device="cpu")
    model.init_weights(3)
    tokens = torch.randint(0, cfg.model.vocab_size, (2, cfg.seq_len + 1))
    inputs, targets = tokens[:, :-1], tokens[:, 1:]

    F.cross_entropy(model(inputs).flatten(0, 1), targets.flatten()).backward()
    want = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    loss = model(inputs, targets) / targets.numel()
    loss.backward()
    with torch.no_grad():
        ref = F.cross_entropy(model(inputs).flatten(0, 1), targets.flatten())
    torch.testing.assert_close(loss, ref, rtol=1e-6, atol=0)
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, want[n], rtol=1e-4, atol=1e-7, msg=n)


def bf16_case(n=45, vocab=70, dim=24, seed=2):
    torch.manual_seed(seed)
    h = torch.randn(n, dim).bfloat16().requires_grad_()
    w = (0.3 * torch.randn(vocab, dim)).bfloat16().requires_grad_()
    targets = torch.randint(0, vocab, (n,))
    targets[::7] = IGNORE_INDEX
    return h, w, targets


@pytest.mark.parametrize("chunk", [1, 8, 45, None])
def test_bf16_loss_and_gradients_match_the_bf16_linear_then_cross_entropy(chunk):
    # What the plain path computes under FSDP2's bf16 mixed precision: bf16 logits, an fp32
    # cross-entropy, bf16 gradients. 45 tokens in chunks of 8: a short last chunk.
    h, w, targets = bf16_case()
    want = full_path(h, w, targets).sum()
    (want / 45).backward()
    want_h, want_w = h.grad.clone(), w.grad.clone()
    h.grad = w.grad = None
    got = linear_cross_entropy(h, w, targets, chunk=chunk)
    (got / 45).backward()
    assert got.dtype == torch.float32 and h.grad.dtype == w.grad.dtype == torch.bfloat16
    torch.testing.assert_close(got, want.detach(), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(h.grad, want_h, rtol=1.6e-2, atol=1e-4)
    torch.testing.assert_close(w.grad, want_w, rtol=1.6e-2, atol=1e-4)


def test_the_bf16_weight_gradient_is_summed_in_fp32_and_rounded_once():
    # One token per chunk: 64 outer products. Rounding each to bf16 before the fp32 sum (a bf16
    # [vocab, dim] product per chunk, as before) is off by several bf16 steps; summing exact
    # products in fp32 and rounding once is the float64 sum rounded, but for ties.
    h, w, targets = bf16_case(n=64, vocab=40, dim=32, seed=3)
    got = linear_cross_entropy(h, w, targets, chunk=1)
    got.backward()
    with torch.no_grad():
        g = F.softmax(F.linear(h, w).float(), dim=-1)
        keep = targets != IGNORE_INDEX
        g[keep, targets[keep]] -= 1
        g[~keep] = 0
        want = (g.bfloat16().double().t() @ h.double()).bfloat16()
    exact = (w.grad == want).float().mean().item()
    assert exact > 0.99, exact


def test_a_weight_taking_fp32_gradients_gets_the_fp32_sum_scaled_and_unrounded():
    # trainer/parallelize.py gives the untied output unit fp32 gradients under bf16 (FSDP2
    # reduces in fp32): the accumulator reaches it scaled, never rounded to bf16 on the way.
    # Any other bf16 weight gets that same gradient rounded once, after the scaling.
    h, w, targets = bf16_case(n=64, vocab=40, dim=32, seed=3)
    with torch.no_grad():
        g = F.softmax(F.linear(h, w).float(), dim=-1)
        keep = targets != IGNORE_INDEX
        g[keep, targets[keep]] -= 1
        g[~keep] = 0
        exact = (g.bfloat16().double().t() @ h.double()) / 45
    grads = {}
    for grad_dtype in (torch.float32, None):
        w.grad, w.grad_dtype = None, grad_dtype
        (linear_cross_entropy(h, w, targets, chunk=7) / 45).backward()
        grads[grad_dtype] = w.grad
    fp32, rounded = grads[torch.float32], grads[None]
    assert fp32.dtype == torch.float32 and rounded.dtype == torch.bfloat16
    torch.testing.assert_close(fp32.double(), exact, rtol=1e-5, atol=1e-7)
    assert (fp32 != fp32.bfloat16().float()).float().mean() > 0.5  # not bf16 values
    assert (rounded == fp32.bfloat16()).float().mean() > 0.99  # one rounding, but for ties


def test_the_compiled_form_has_the_same_math_as_the_eager_one():
    # softmax_grad_compiled_ runs _fused through torch.compile on CUDA; here its math, eagerly
    # (compiling it on this CPU costs tens of seconds).
    torch.manual_seed(4)
    logits = (3 * torch.randn(9, 50)).bfloat16()
    targets = torch.randint(0, 50, (9,))
    targets[2] = IGNORE_INDEX
    a, b = logits.clone(), logits.clone()
    la = loss_elementwise.softmax_grad_(a, targets, True)
    lb = loss_elementwise._fused(b, targets, True)
    torch.testing.assert_close(la, lb, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(a, b, rtol=0, atol=2**-8)
    assert a[2].abs().max() == 0


def chunk_bytes(chunk: int, vocab: int, itemsize: int) -> int:
    """What a chunk holds beyond the accumulator: logits, and the 16-bit path's fp32 scratch."""
    scratch = 0 if itemsize == 4 else 4 * vocab * min(chunk, scratch_rows(vocab))
    return chunk * vocab * itemsize + scratch


@pytest.mark.parametrize(
    "tokens,vocab,dim,itemsize",
    [
        (8192, 128256, 2048, 2),  # llama3-1b, bf16
        (8192, 128256, 4096, 2),  # llama3-8b, bf16
        (2048, 128256, 512, 4),  # bench/compare.py's vocab 128k run, fp32
        (8192, 128256, 2048, 4),
        (4096, 32768, 256, 2),
        (1000, 10**6, 64, 2),
    ],
)
def test_chunks_fit_the_larger_of_the_old_chunk_and_the_rounded_gradient(
    tokens, vocab, dim, itemsize
):
    chunk = chunk_tokens(tokens, vocab, dim, itemsize)
    budget = max(4 * CHUNK_ELEMENTS, vocab * dim * itemsize if itemsize == 2 else 0)
    assert chunk_bytes(chunk, vocab, itemsize) <= budget or chunk == 1
    # Even chunks: the last one is at most one token per chunk short of the others.
    n = -(-tokens // chunk)
    assert tokens - (n - 1) * chunk >= chunk - n
    # The most that fits: one more token per chunk would overflow (or add no chunk).
    assert chunk == tokens or chunk_bytes(-(-tokens // (n - 1)), vocab, itemsize) > budget


def test_chunks_at_gpu_shapes_are_sized_by_work():
    # bf16 at 8192 tokens: at least 1024 tokens a chunk, fewer chunks than torchtitan's 8.
    assert chunk_tokens(8192, 128256, 2048, 2) == 1639  # 5 chunks
    assert chunk_tokens(8192, 128256, 4096, 2) == 2731  # 3 chunks
    # fp32 keeps the old 2^24-logit chunk (130 tokens at 128k), evened: 16 x 128.
    assert chunk_tokens(2048, 128256, 512, 4) == 128
    assert chunk_tokens(0, 50, 16, 4) == 1 and chunk_tokens(5, 10**9, 16, 4) == 1


def test_the_traffic_model_before_and_after():
    # The estimate: about 540 GB of weight-sized traffic per 8192-token micro-batch for
    # llama3-8b in 130-token chunks (the weight read twice, a bf16 temporary written and read,
    # the fp32 accumulator read and written, per chunk).
    v, d, t = 128256, 4096, 8192
    before = loss_traffic.micro_batch_bytes(t, v, d, 2, 130, "before")
    weight_terms = sum(before[k] for k in ("weight_reads", "weight_grad_temporary", "accumulator"))
    assert before["chunks"] == 64 and 530e9 < weight_terms < 545e9
    after = loss_traffic.micro_batch_bytes(t, v, d, 2, chunk_tokens(t, v, d, 2), "after")
    assert after["chunks"] == 3 and after["weight_grad_temporary"] == 0
    assert after["total"] < before["total"] / 10
    # Every term is counted once per chunk: one chunk of everything is the micro-batch's sum.
    one = loss_traffic.chunk_bytes(t, v, d, 2, "after", first=True)
    whole = loss_traffic.micro_batch_bytes(t, v, d, 2, t, "after")
    assert whole["total"] == sum(one.values()) + whole["final_cast"]
    with pytest.raises(ValueError):
        loss_traffic.chunk_bytes(1, v, d, 2, "sideways")


# Peak resident memory of one forward + backward at Llama 3's vocabulary, in a fresh process:
# torch has no peak counter for CPU allocations, but the kernel's high-water mark of the
# process's resident pages (VmHWM, reset to the current RSS just before the step) sees every page
# torch touches, and tensors this large are mmap'd and returned to the system when freed, so the
# mark minus the RSS before the step is the step's own peak. FIXED_MMAP keeps them mmap'd: glibc otherwise raises its mmap threshold
# after the first free (up to 32 MiB), and later chunk-sized buffers stay in the heap. On CUDA,
# torch.cuda.max_memory_allocated says the same directly.
FIXED_MMAP = {"MALLOC_MMAP_THRESHOLD_": str(1 << 20)}
PEAK_PROBE = """
import json, sys
import torch, torch.nn.functional as F
from trainer.loss import linear_cross_entropy
mode, n, vocab, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
dtype = getattr(torch, sys.argv[5])
torch.manual_seed(0)
h = torch.randn(n, dim, dtype=dtype, requires_grad=True)
w = (0.02 * torch.randn(vocab, dim)).to(dtype).requires_grad_()
w.grad = torch.zeros_like(w)  # allocated before the baseline, as the sharded grad would be
targets = torch.randint(0, vocab, (n,))
def run(h, w, targets):
    if mode == "full":
        loss = F.cross_entropy(F.linear(h, w).float(), targets, reduction="none")
    else:
        loss = linear_cross_entropy(h, w, targets, chunk=None if mode == "auto" else int(mode))
    loss = loss.sum()
    loss.backward()
    return loss
# Once on a few tokens first: the kernels' code pages are then mapped before the baseline. Left
# to the measured call, how many of them one fault maps depends on how much of libtorch other
# processes keep in the page cache (a whole test suite running beside it adds ~10 MiB).
small = h[:8].detach().requires_grad_()
run(small, w, targets[:8])
w.grad.zero_()
def status_kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
# Reset the high-water mark to the current RSS (proc(5), /proc/[pid]/clear_refs "5"), so pages
# the kernel reclaimed since an earlier peak (torch's shared libraries under memory pressure)
# cannot hide part of the step's growth.
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status_kib("VmRSS")
loss = run(h, w, targets)
after = status_kib("VmHWM")
print(json.dumps({"peak_mib": (after - before) / 1024, "loss": loss.item()}))
"""


def peak(mode: str, n: int, vocab: int, dim: int, dtype: str = "float32") -> dict:
    p = subprocess.run(
        [sys.executable, "-c", PEAK_PROBE, mode, str(n), str(vocab), str(dim), dtype],
        env=_env() | FIXED_MMAP,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_peak_memory_at_a_128k_vocabulary_drops():
    n, vocab, dim = 512, 128256, 64
    logits_mib = n * vocab * 4 / 2**20  # one fp32 copy of the full logits: 250 MiB
    full = peak("full", n, vocab, dim)
    chunked = peak("auto", n, vocab, dim)  # fp32: chunks of 128 tokens, 63 MiB
    assert full["loss"] == pytest.approx(chunked["loss"], rel=1e-6)
    # The full path holds the logits and their log-softmax at least.
    assert full["peak_mib"] > 1.5 * logits_mib, full
    # One chunk's logits (63 MiB, reused by every chunk) and the weight's fp32 gradient (31 MiB
    # at dim 64), never one full copy.
    assert chunked["peak_mib"] < 0.5 * logits_mib and chunked["peak_mib"] < 0.2 * full["peak_mib"]


def test_the_bf16_loss_holds_its_accumulator_and_the_chunk_budget_only():
    # Beyond the fp32 weight-gradient accumulator, a bf16 chunk's logits and fp32 scratch stay
    # within the budget (64 MiB at this dim) and the weight gradient adds no [vocab, dim]
    # temporary per chunk; the slack is this CPU's bf16 GEMM packing its operands (about
    # 12 MiB here). Before, 130-token chunks held bf16 logits and an fp32 copy at once (96 MiB)
    # and a bf16 [vocab, dim] product besides: 156 MiB in this probe, against 92 now.
    n, vocab, dim = 1024, 128256, 32
    acc_mib = vocab * dim * 4 / 2**20  # 15.7 MiB
    got = peak("auto", n, vocab, dim, "bfloat16")
    assert got["peak_mib"] < acc_mib + 64 + 16, got
    assert got["peak_mib"] < acc_mib + 6 * 130 * vocab / 2**20, got  # the old chunk's floor
