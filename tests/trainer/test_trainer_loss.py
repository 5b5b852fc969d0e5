"""The chunked, fused cross-entropy (trainer/loss.py): the same losses and gradients as the
full-logits path, and a peak memory that no longer grows with tokens x vocabulary."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from trainer_support import _env

from trainer import config
from trainer.loss import IGNORE_INDEX, chunk_tokens, linear_cross_entropy
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


def test_chunks_are_bounded_in_elements():
    assert chunk_tokens(128256) == 130 and chunk_tokens(32768) == 512
    assert chunk_tokens(10**9) == 1


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
torch.manual_seed(0)
h = torch.randn(n, dim, requires_grad=True)
w = (0.02 * torch.randn(vocab, dim)).requires_grad_()
w.grad = torch.zeros_like(w)  # allocated before the baseline, as the sharded grad would be
targets = torch.randint(0, vocab, (n,))
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
if mode == "full":
    loss = F.cross_entropy(F.linear(h, w).float(), targets, reduction="none")
else:
    loss = linear_cross_entropy(h, w, targets, chunk=int(mode))
loss = loss.sum()
loss.backward()
after = status_kib("VmHWM")
print(json.dumps({"peak_mib": (after - before) / 1024, "loss": loss.item()}))
"""


def peak(mode: str, n: int, vocab: int, dim: int) -> dict:
    p = subprocess.run(
        [sys.executable, "-c", PEAK_PROBE, mode, str(n), str(vocab), str(dim)],
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
    chunked = peak("64", n, vocab, dim)
    assert full["loss"] == pytest.approx(chunked["loss"], rel=1e-6)
    # The full path holds the logits and their log-softmax at least.
    assert full["peak_mib"] > 1.5 * logits_mib, full
    # Chunks of 64 tokens: a few 31 MiB buffers (a chunk's logits; the weight's gradient is as
    # large here at dim 64), never one full copy.
    assert chunked["peak_mib"] < 0.5 * logits_mib and chunked["peak_mib"] < 0.2 * full["peak_mib"]
