"""Under bf16 FSDP2 the untied output weight's gradient reaches the reduce-scatter in fp32, as the
loss accumulated it (trainer/parallelize.py `_fp32_head_grads`, trainer/loss.py): its sharded
gradient holds values bf16 cannot, where every block's, computed in bf16, holds bf16 values only.
A tied weight (the root unit, whose embedding gradient is bf16) is rounded once instead. One
rank, so FSDP's reduction is a copy and the dtype that reached it is visible in the values."""

from __future__ import annotations

import pytest
import torch
from torch.distributed.device_mesh import init_device_mesh
from trainer_support import one_rank_gloo

from trainer import config, train
from trainer.distributed import Dist
from trainer.parallelize import reduce_after_micro_batch


@pytest.fixture(scope="module")
def d():
    with one_rank_gloo():
        yield Dist(0, 0, 1, torch.device("cpu"), init_device_mesh("cpu", (1,)))


def _grads(d: Dist, tied: bool, micro_batches: int) -> dict[str, torch.Tensor]:
    cfg = config.build(
        "tiny", {"model": {"tie_embeddings": tied}, "parallel": {"mixed_precision": "bf16"}}
    )
    model = train.build_model(cfg, d)
    tokens = torch.randint(
        0, cfg.model.vocab_size, (2, 65), generator=torch.Generator().manual_seed(1)
    )
    for i in range(micro_batches):
        reduce_after_micro_batch(model, i == micro_batches - 1, 1)
        model(tokens[:, :-1], tokens[:, 1:]).backward()
    grads = {n: p.grad.to_local() for n, p in model.named_parameters()}
    grads["head"] = model.output.weight.grad.to_local()
    return grads


def _bf16_valued(g: torch.Tensor) -> bool:
    return bool((g == g.bfloat16().float()).all())


@pytest.mark.parametrize("micro_batches", [1, 2])
def test_the_untied_head_gradient_is_reduced_in_fp32(d, micro_batches):
    grads = _grads(d, tied=False, micro_batches=micro_batches)
    assert not _bf16_valued(grads["head"])
    assert _bf16_valued(grads["layers.0.feed_forward.w1.weight"])  # the control: bf16 compute


def test_a_tied_head_gradient_is_rounded_once(d):
    grads = _grads(d, tied=True, micro_batches=1)
    assert grads["head"].dtype == torch.float32  # FSDP2's reduce dtype, from bf16 values
    assert _bf16_valued(grads["head"])
