"""The self-test's checks, cheapest first (trainer/selftest.py runs those of the asked level).
Each takes the shared context and returns its detail line, or raises `CheckFailed` with the
finding. torch and the trainer are imported inside the checks, never up front.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import tempfile
from pathlib import Path

from .selftest_runner import Check, nccl_version, require

LIBRARIES = ("numpy", "tokenizers", "datasets", "matplotlib")


def check_import_torch(ctx: dict) -> str:
    import torch
    import torch.distributed

    return f"torch {torch.__version__}"


def check_import_libraries(ctx: dict) -> str:
    failed = []
    for name in LIBRARIES:
        try:
            importlib.import_module(name)
        except Exception as e:
            failed.append(f"{name}: {type(e).__name__}: {e}")
    require(not failed, "; ".join(failed))
    return ", ".join(LIBRARIES)


def check_import_trainer(ctx: dict) -> str:
    import trainer

    # `__main__` would start a training run when imported.
    names = sorted(
        m.name
        for m in pkgutil.iter_modules(trainer.__path__)
        if m.name not in ("__main__", "selftest")
    )
    failed = []
    for name in names:
        try:
            importlib.import_module(f"trainer.{name}")
        except Exception as e:
            failed.append(f"trainer.{name}: {type(e).__name__}: {e}")
    require(not failed, "; ".join(failed))
    return f"{len(names)} modules: {', '.join(names)}"


def check_cuda_build(ctx: dict) -> str:
    import torch
    import torch.distributed as dist

    if ctx["expect_cuda"]:
        require(
            torch.version.cuda is not None,
            f"torch {torch.__version__} is not a CUDA build (torch.version.cuda is None); "
            "--expect-cuda needs the CUDA build of torch",
        )
        require(
            dist.is_nccl_available(),
            "NCCL is not available in torch.distributed "
            "(--expect-cuda needs it for multi-GPU training)",
        )
    if torch.version.cuda is None:
        return f"CPU-only torch {torch.__version__} (CUDA not expected)"
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    devices = ", ".join(torch.cuda.get_device_name(i) for i in range(count)) or "no GPU visible"
    return f"CUDA {torch.version.cuda}, NCCL {nccl_version()}, {count} device(s): {devices}"


def check_efa(ctx: dict) -> str:
    from trainer import efa

    if not ctx.get("expect_efa"):
        return "not checked (no --expect-efa)"
    facts = efa.probe()
    problems = efa.efa_problems(facts)
    require(not problems, "; ".join(problems))
    return efa.describe(facts)


def _device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def check_meta_init(ctx: dict) -> str:
    import torch

    from trainer import config
    from trainer.model import Transformer

    cfg = ctx["cfg"] = config.build("tiny")
    device = _device()
    with torch.device("meta"):
        model = Transformer(cfg.model, rope_len=cfg.seq_len)
    model.to_empty(device=device)
    require(
        not cfg.model.tie_embeddings or model.output.weight is model.tok_embeddings.weight,
        "the output and embedding weights are no longer tied after to_empty",
    )
    model.init_weights(cfg.seed)
    tensors = dict(model.named_parameters()) | dict(model.named_buffers())
    bad = [n for n, t in tensors.items() if not torch.isfinite(t).all()]
    require(not bad, f"non-finite after init_weights: {', '.join(bad)}")
    ctx["model"] = model
    return f"{model.num_params():,} parameters, {len(tensors)} tensors finite on {device}"


def _first_micro_batch(cfg, rank: int = 0, world: int = 1):
    from trainer import batches, tokenizer

    return batches.ShardedBatches(cfg, tokenizer.load(cfg.data.tokenizer), rank, world).next_step()


def check_forward_backward(ctx: dict) -> str:
    import torch
    import torch.nn.functional as F

    from trainer import batches

    cfg, model, device = ctx["cfg"], ctx["model"], _device()
    inputs, targets = batches.split(_first_micro_batch(cfg)[0], device)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
        logits = model(inputs)
    loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
    loss.backward()
    require(math.isfinite(loss.item()), f"loss {loss.item()}")
    # Small random weights predict about uniformly: a loss far from ln(vocab) is a broken init.
    uniform = math.log(cfg.model.vocab_size)
    require(
        abs(loss.item() - uniform) < 1.0,
        f"initial loss {loss.item():.3f}, expected about ln(vocab) = {uniform:.3f}",
    )
    bad = [
        n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
    ]
    require(not bad, f"missing or non-finite gradients: {', '.join(bad)}")
    precision = "bf16 autocast" if device.type == "cuda" else "fp32"
    return (
        f"loss {loss.item():.4f} (ln vocab {uniform:.4f}) on {device} ({precision}), "
        "every gradient finite"
    )


def check_process_group(ctx: dict) -> str:
    import torch.distributed as dist

    from trainer import config, distributed

    d = ctx["dist"] = distributed.init(config.build("tiny").parallel.timeout_s)
    return f"rank {d.rank}/{d.world_size} on {d.device} ({dist.get_backend()})"


def _local(t):
    return t.to_local() if hasattr(t, "to_local") else t


def check_fsdp_step(ctx: dict) -> str:
    from trainer import config, parallelize, train

    cfg, d = config.build("tiny"), ctx["dist"]
    cfg.check_world(d.world_size)
    model = train.build_model(cfg, d)
    require(
        not cfg.model.tie_embeddings or model.output.weight is model.tok_embeddings.weight,
        "the output and embedding weights are no longer tied after build_model",
    )
    optimizer, _ = train.build_optimizer(model, cfg, d.device)
    before = {n: _local(p).detach().clone() for n, p in model.named_parameters()}
    micro = _first_micro_batch(cfg, d.rank, d.world_size)
    loss, grad_norm = train.train_step(model, optimizer, micro, cfg, d, step=1)
    require(
        math.isfinite(loss) and math.isfinite(grad_norm), f"loss {loss}, gradient norm {grad_norm}"
    )
    same = [n for n, p in model.named_parameters() if _local(p).detach().equal(before[n])]
    require(not same, f"unchanged by the optimizer step: {', '.join(same)}")
    ctx.update(fsdp_cfg=cfg, fsdp_model=model, fsdp_optimizer=optimizer)
    mp = parallelize.mixed_precision(cfg.parallel, d.device).param_dtype or "fp32"
    return (
        f"loss {loss:.4f}, gradient norm {grad_norm:.3f}, all {len(before)} parameters "
        f"changed; {len(micro)} micro-batches, parameters in {mp}"
    )


def check_checkpoint_roundtrip(ctx: dict) -> str:
    from trainer import checkpoint, train

    cfg, d = ctx["fsdp_cfg"], ctx["dist"]
    model, optimizer = ctx["fsdp_model"], ctx["fsdp_optimizer"]
    with tempfile.TemporaryDirectory(prefix="trainer-selftest-") as tmp:
        path = checkpoint.save(tmp, 1, model, optimizer, {"step": 1}, 1, d.rank, d.device)
        require(checkpoint.latest(tmp) == (1, path), f"{path} is not a complete checkpoint")
        # A different seed, so that a load that does nothing cannot pass.
        fresh_cfg = cfg.model_copy(update={"seed": cfg.seed + 1})
        fresh = train.build_model(fresh_cfg, d)
        fresh_opt, _ = train.build_optimizer(fresh, fresh_cfg, d.device)
        state = checkpoint.load(path, fresh, fresh_opt, d.rank, d.device)
    require(state == {"step": 1}, f"trainer state read back as {state}")
    want, got = model.state_dict(), fresh.state_dict()
    require(want.keys() == got.keys(), f"keys differ: {sorted(want.keys() ^ got.keys())}")
    differ = [k for k in want if not _local(want[k]).equal(_local(got[k]))]
    require(not differ, f"differ after load: {', '.join(differ)}")
    return f"{len(want)} tensors identical after save and load into a fresh model"


def check_train_run(ctx: dict) -> str:
    from trainer import config, train

    steps = 3
    with tempfile.TemporaryDirectory(prefix="trainer-selftest-") as tmp:
        cfg = config.build(
            "tiny",
            {
                "max_steps": steps,
                "checkpoint.dir": f"{tmp}/checkpoints",
                "metrics.out_dir": f"{tmp}/metrics",
                "metrics.val_sequences": 4,
                "metrics.val_interval": steps,
                "checkpoint.at_end": True,
            },
        )
        summary = train.run(cfg)
        ckpt = Path(summary["checkpoint"])
        require(ckpt.is_dir() and ckpt.name == "step_00000003", f"final checkpoint {ckpt} missing")
        files = sorted(p.name for p in Path(cfg.metrics.out_dir).iterdir())
        require("metrics.jsonl" in files, f"metrics.out_dir holds only {files}")
    require(summary["steps"] == steps, f"ran {summary['steps']} steps, not {steps}")
    require(
        math.isfinite(summary["final_loss"]) and math.isfinite(summary["val_loss"]),
        f"final loss {summary['final_loss']}, validation loss {summary['val_loss']}",
    )
    return (
        f"{steps} steps, loss {summary['final_loss']:.4f}, validation "
        f"{summary['val_loss']:.4f}; wrote {ckpt.name}, {', '.join(files)}"
    )


CHECKS = [
    Check("import-torch", "quick", check_import_torch),
    Check("import-libraries", "quick", check_import_libraries),
    Check("import-trainer", "quick", check_import_trainer, ("import-torch",)),
    Check("cuda-build", "quick", check_cuda_build, ("import-torch",)),
    Check("efa", "quick", check_efa),
    Check("meta-init", "quick", check_meta_init, ("import-trainer",)),
    Check("forward-backward", "standard", check_forward_backward, ("meta-init",)),
    Check("process-group", "standard", check_process_group, ("import-trainer",)),
    Check("fsdp-step", "standard", check_fsdp_step, ("process-group",)),
    Check("checkpoint-roundtrip", "full", check_checkpoint_roundtrip, ("fsdp-step",)),
    Check("train-run", "full", check_train_run, ("process-group",)),
]
