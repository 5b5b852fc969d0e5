"""The training loop: one entry point alone, under torchrun, and in a PyTorchJob.

Exit codes: 0 done; 2 bad config, a CUDA out-of-memory error or an S3 4xx (a restart would
repeat them); 3 non-finite loss or gradient (a restart would not help);
143 stopped by SIGTERM after saving a checkpoint (a restart resumes from it). exit_codes.py has
the table; under torchrun, trainer/launch.py carries them to the pod.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time

import torch

from . import (
    batches,
    checkpoint,
    checkpoint_async,
    cloudwatch_emf,
    config,
    distributed,
    hf_export,
    hf_init,
    logline,
    metrics,
    s3_sync,
    tensorboard_log,
    tokenizer,
)
from .activation_checkpoint import resolve_mode
from .exit_codes import EXIT_CONFIG, EXIT_NONFINITE, EXIT_SIGTERM
from .loss_elementwise import IGNORE_INDEX
from .model import Transformer
from .parallelize import parallelize, reduce_after_micro_batch, uses_bf16
from .permanent_errors import explain as permanent_error
from .step_values import NonFiniteError, StepValues

__all__ = ["NonFiniteError", "run", "train_step"]


class _Stop:
    """SIGTERM (pod eviction, spot interruption via the kubelet, torchrun shutting down) asks
    for a checkpoint at the end of the current step, agreed on by every rank."""

    requested = False  # seen by this rank
    # Seen by some rank as of the last sync point's all-reduce (StepValues.flush): every rank
    # stops there. Agreeing every step would cost a host sync every step.
    agreed = False

    @classmethod
    def install(cls) -> None:
        """Only around the training loop: anywhere else SIGTERM ends the process at once.
        Off the main thread (Ray Train runs ranks on a worker thread) Python allows no signal
        handler: the runner stops workers itself and a restart resumes from the last checkpoint."""
        cls.requested = cls.agreed = False
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum, frame):
            if cls.requested:  # asked twice: do not wait for the step to end
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)
            cls.requested = True

        signal.signal(signal.SIGTERM, handler)

    @classmethod
    def uninstall(cls) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def lr_schedule(cfg: config.TrainConfig):
    """Linear warm-up, then cosine decay to min_lr_ratio of the peak at max_steps."""
    o = cfg.optim

    def factor(step: int) -> float:
        if step < o.warmup_steps:
            return (step + 1) / (o.warmup_steps + 1)
        span = max(1, cfg.max_steps - o.warmup_steps)
        progress = min(1.0, (step - o.warmup_steps) / span)
        return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def build_optimizer(model, cfg: config.TrainConfig, device: torch.device):
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]  # norm weights
    o = cfg.optim
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": o.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=o.lr,
        betas=(o.beta1, o.beta2),
        eps=o.eps,
        # Fused on CUDA and CPU alike: only the fused kernels take `found_inf`, the non-finite
        # guard decided on the device (step_values.py); the foreach path refuses it.
        fused=True,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_schedule(cfg))
    return opt, sched


def build_model(cfg: config.TrainConfig, d: distributed.Dist) -> Transformer:
    # On meta, sharded, then only the local shards are materialised and initialised.
    bf16 = uses_bf16(cfg.parallel, d.device)
    dtype = torch.bfloat16 if bf16 else torch.float32
    mode, why = resolve_mode(
        cfg.parallel.activation_checkpointing,
        cfg.model.model_dump(),
        cfg.seq_len,
        cfg.micro_batch_size,
        d.world_size,
        bf16,
    )
    _say(d, f"trainer: activation checkpointing {mode} ({why})")
    with torch.device("meta"):
        model = Transformer(cfg.model, rope_len=cfg.seq_len, compute_dtype=dtype)
    parallel = cfg.parallel.model_copy(update={"activation_checkpointing": mode})
    parallelize(model, d.mesh, parallel, d.device)
    model.to_empty(device=d.device)
    model.init_weights(cfg.seed)
    return model


def _say(d: distributed.Dist, msg: str) -> None:
    if d.is_main:
        logline.emit(msg)


def grad_norm(model, max_norm: float) -> torch.Tensor:
    """Clip to max_norm (0: only measure); the global norm over all ranks' shards, on the
    device (its all-reduce is enqueued like any collective: no host sync)."""
    norm = torch.nn.utils.clip_grad_norm_(
        model.parameters(), max_norm or float("inf"), foreach=True
    )
    return norm.full_tensor() if hasattr(norm, "full_tensor") else norm


def clip_gradients(model, max_norm: float) -> float:
    """grad_norm read on the host (a sync): for the benchmark's reference loop."""
    return grad_norm(model, max_norm).item()


def train_step(
    model, optimizer, micro_batches, cfg, d, step: int, values=None, sync: bool = True
) -> tuple[float, float] | None:
    """Forward/backward over this rank's micro-batches and the optimizer step, skipped on the
    device when the global loss or gradient norm is non-finite (step_values.py). With sync, the
    pending steps are read first and a non-finite one raises NonFiniteError before this step's
    optimizer step; returns this step's (global mean loss, gradient norm). Without, nothing is
    read on the host and it returns None."""
    values = StepValues(d.device) if values is None else values
    accum = len(micro_batches)
    local_sum = torch.zeros((), dtype=torch.float64, device=d.device)
    moved = [batches.split(mb, d.device) for mb in micro_batches]
    # The loss is the mean over the step's targets on all ranks. Text: every token is one, so
    # a rank's mean over its own tokens, averaged over ranks by FSDP. Fine-tuning data: only the
    # unmasked ones, counted over all ranks first (`counted`); a rank's sum x ranks / counted,
    # averaged by FSDP, is the same mean.
    counted = None if cfg.data.format == "text" else batches.global_targets([t for _, t in moved])
    for i, (inputs, targets) in enumerate(moved):
        reduce_after_micro_batch(model, i == accum - 1, d.world_size)
        loss_sum = model(inputs, targets)  # fp32, over the tokens; chunked: trainer/loss.py
        if cfg.debug.nan_at_step == step and d.rank == d.world_size - 1:
            loss_sum = loss_sum * float("nan")
        mb_sum = loss_sum.detach()
        # A non-finite loss on this rank makes all of its gradients NaN (x * 1.0 is exact), so
        # the global gradient norm, which every rank computes alike, carries the verdict to all
        # ranks without a collective of its own (the loss is reduced only at sync points).
        poison = torch.where(torch.isfinite(mb_sum), 1.0, math.nan)
        if counted is None:
            (loss_sum / targets.numel() * poison / accum).backward()
        else:
            (loss_sum * poison * (d.world_size / counted).float()).backward()
        local_sum += mb_sum
    values.add(step, local_sum, grad_norm(model, cfg.optim.grad_clip), counted)
    result = None
    if sync:
        try:
            records, _Stop.agreed = values.flush(
                cfg.global_batch_size * cfg.seq_len, _Stop.requested
            )
        except NonFiniteError:
            optimizer.zero_grad(set_to_none=True)
            raise
        result = records[-1][1:]
    optimizer.found_inf = values.found_inf
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return result


@torch.no_grad()
def evaluate(model, val_batches, cfg, d) -> float:
    model.eval()
    total = torch.zeros(2, dtype=torch.float64, device=d.device)
    for mb in val_batches:
        inputs, targets = batches.split(mb, d.device)
        # The same chunked loss as training (trainer/loss.py): no full [tokens, vocab] logits.
        total[0] += model(inputs, targets).double()
        total[1] += (targets != IGNORE_INDEX).sum()  # all of text's; fine-tuning's unmasked
    torch.distributed.all_reduce(total)
    model.train()
    return (total[0] / total[1].clamp(min=1)).item()


def _trainer_state(cfg, step, sched, data) -> dict:
    return {
        "step": step,
        "scheduler": sched.state_dict(),
        "data": data,
        "config": cfg.model_dump(mode="json"),
        "world_size": torch.distributed.get_world_size(),
    }


def _data_state(data: batches.ShardedBatches, d: distributed.Dist) -> dict:
    parts = [None] * d.world_size
    torch.distributed.all_gather_object(parts, data.local_state())
    return data.state(parts)


def run(cfg: config.TrainConfig) -> dict:
    d = distributed.init(cfg.parallel.timeout_s)
    cfg.check_world(d.world_size)
    # Every rank checks, so a bad path stops them all instead of leaving some in a collective
    # (before a hub or S3 model is fetched beside the checkpoints).
    config.check_writable(cfg.checkpoint.dir)
    config.check_writable(cfg.metrics.out_dir, "metrics.out_dir")
    # model.init_from: its shape and tokenizer (a hub or S3 model fetched once for the job)
    cfg, init = hf_init.prepare(cfg, d.rank, d.local_rank, d.world_size)
    if cfg.checkpoint.export:
        hf_export.check_target(cfg.checkpoint.export)
    torch.manual_seed(cfg.seed + d.rank)
    tok = tokenizer.load(cfg.data.tokenizer)
    batches.check_vocab(cfg, tok)
    if init is not None:
        hf_init.check_tokenizer(init, tok, cfg.data.tokenizer)

    model = build_model(cfg, d)
    optimizer, sched = build_optimizer(model, cfg, d.device)
    fpt = model.flops_per_token(cfg.seq_len)
    bf16 = uses_bf16(cfg.parallel, d.device)
    peak, peak_src = metrics.peak_tflops(d.device, cfg.metrics.peak_tflops, bf16)
    _say(
        d,
        f"trainer: preset {cfg.preset}, {model.num_params() / 1e6:.1f}M parameters, "
        f"{d.world_size} rank(s) on {d.device.type} "
        f"({torch.distributed.get_backend()}), "
        f"global batch {cfg.global_batch_size} x {cfg.seq_len} tokens, "
        f"grad accumulation {cfg.grad_accum_steps(d.world_size)}, "
        f"{'bf16 params, fp32 reduction' if bf16 else 'fp32'}, "
        f"peak {peak:.2f} TFLOP/s/device ({peak_src})",
    )

    start, data_state = 0, None
    uploads = s3_sync.Uploads(
        cfg.checkpoint,
        d,
        tensorboard_log.directory(cfg.metrics.out_dir) if cfg.metrics.tensorboard else None,
    )
    uploads.restore_if_empty()
    found = checkpoint.latest(cfg.checkpoint.dir)
    if found and not cfg.checkpoint.resume:
        raise config.ConfigError(
            [
                f"checkpoint.resume=false: {cfg.checkpoint.dir} holds step {found[0]} of an "
                "earlier run, which a restart of this one would resume from; use an empty "
                "checkpoint.dir"
            ]
        )
    if found:
        state = checkpoint.load(found[1], model, optimizer, d.rank, d.device)
        sched.load_state_dict(state["scheduler"])
        start, data_state = state["step"], state["data"]
        _say(d, logline.Resumed(start, str(found[1]), state["world_size"]).format())
    elif init is not None:  # a fresh run only: a resume's weights are its checkpoint's
        got = hf_init.load_weights(model, init)
        _say(
            d,
            f"trainer: weights from {init.directory} ({got.tensors} tensors; rank 0 read "
            f"{got.read_bytes / 2**20:.1f} of {got.total_bytes / 2**20:.1f} MiB)",
        )
    data = batches.ShardedBatches(cfg, tok, d.rank, d.world_size, data_state)
    val = batches.validation_set(cfg, tok, d.rank, d.world_size)
    rec = metrics.Recorder(
        cfg.metrics.out_dir,
        cfg.max_steps,
        fpt,
        peak,
        d.world_size,
        d.is_main,
        peak_src,
        tensorboard=cfg.metrics.tensorboard,
        first_step=start + 1,
        emf=cloudwatch_emf.from_env(d.rank),
        run_config=cfg.model_dump(mode="json"),
    )

    last_ckpt = {"step": start, "path": found[1] if found else None}
    last_val = {"step": None, "loss": None}
    # Made here on every rank (it may create a process group); its thread runs only while a save
    # is in flight, and the S3 uploads' collectives run in it then (`published`), so the training
    # thread touches them only after saver.wait().
    saver = checkpoint_async.Saver(
        d.rank, d.device, cfg.parallel.timeout_s, asynchronous=cfg.checkpoint.async_save
    )

    def published(path) -> None:  # every rank, once `path` is published
        _say(d, logline.Checkpoint(checkpoint.step_of(path), str(path)).format())
        uploads.saved(path, final=False)

    def save(step: int, final: bool = False) -> None:
        """Start a save of `step` (the previous one finishes first); a final one (SIGTERM, the
        end) is waited for and uploaded before this returns."""
        saver.wait()
        if last_ckpt["step"] != step:
            path = saver.start(
                cfg.checkpoint.dir,
                step,
                model,
                optimizer,
                _trainer_state(cfg, step, sched, _data_state(data, d)),
                cfg.checkpoint.keep,
                then=None if final else published,
            )
            last_ckpt.update(step=step, path=path)
            if not final:
                return
            saver.wait()
            _say(d, logline.Checkpoint(step, str(path)).format())
        if final:
            rec.flush()  # the TensorBoard events up to here go with the last upload
            uploads.saved(last_ckpt["path"], final=True)

    def validate(step: int) -> None:
        if last_val["step"] == step:
            return
        last_val.update(step=step, loss=evaluate(model, val, cfg, d))
        rec.write({"kind": "val", "step": step, "loss": last_val["loss"]})
        _say(d, logline.Validation(step, last_val["loss"]).format())

    step, loss = start, math.nan
    tokens_per_step = cfg.global_batch_size * cfg.seq_len
    last = cfg.stop_at or cfg.max_steps
    values = StepValues(d.device)
    timings: dict[int, tuple[float, float, float]] = {}  # step -> (lr, step time, data time)

    def every(interval: int) -> bool:
        return bool(interval) and step % interval == 0

    def record(flushed: list[tuple[int, float, float]]) -> None:
        for s, loss_s, norm_s in flushed:
            lr_s, t_step, t_load = timings.pop(s)
            rec.step(s, loss_s, lr_s, norm_s, t_step, t_load, tokens_per_step)

    _Stop.install()
    for step in range(start + 1, last + 1):
        if cfg.debug.kill_at_step == step and d.rank == cfg.debug.kill_rank and start == 0:
            # After the save in flight, if any, is published: a kill during a save is its own
            # test (tests/trainer/test_async_checkpoint.py), and the restart this one tests
            # should resume from the same step whatever the speed of the write.
            saver.wait()
            os.kill(os.getpid(), signal.SIGKILL)
        t0 = time.perf_counter()
        micro = data.next_step()
        t_data = time.perf_counter() - t0
        lr = sched.get_last_lr()[0]
        # The host reads the device only where it waits anyway: a progress line, validation, a
        # checkpoint, the end. The same steps on every rank (the read is a collective).
        sync = (
            every(cfg.metrics.log_interval)
            or every(cfg.metrics.val_interval)
            or every(cfg.checkpoint.interval)
            or step == last
        )
        try:
            train_step(model, optimizer, micro, cfg, d, step, values, sync=sync)
        except NonFiniteError as e:
            record(e.good)
            raise
        # A skipped step (non-finite) still advances the schedule; harmless, as the run stops
        # at the next sync point without saving anything after the bad step.
        sched.step()
        # Step time without a device sync: on a GPU the host runs ahead and the wait lands in
        # the step that syncs, so the times of a window add up to its wall time.
        timings[step] = (lr, time.perf_counter() - t0, t_data)
        if not sync:
            continue
        record(values.flushed)
        loss = values.flushed[-1][1]
        if every(cfg.metrics.log_interval) or step == last:
            _say(d, rec.log(step, loss, d.device))
        if every(cfg.metrics.val_interval):
            validate(step)
        if _Stop.agreed:
            save(step, final=True)
            _say(d, logline.SigtermSaved(step).format())
            raise SystemExit(EXIT_SIGTERM)
        if every(cfg.checkpoint.interval):
            save(step)
    _Stop.uninstall()
    saver.wait()  # nothing of the training thread's below meets a save's collectives

    # Only what was asked for: a slice of a longer run (stop_at) saves to be resumed, and
    # checkpoint.at_end asks for a save of the last step (the stack's jobs set it). A save of
    # this step by the interval is uploaded as the run's last.
    if cfg.checkpoint.at_end or cfg.stop_at or last_ckpt["step"] == step != start:
        save(step, final=True)
    val_loss = last_val["loss"]
    exported = None
    export_to = cfg.checkpoint.export or uploads.default_export
    if export_to:
        exported = hf_export.export_full(
            model,
            cfg,
            export_to,
            d.rank,
            cfg.checkpoint.export_dtype,
            int(cfg.checkpoint.export_shard_gb * 1e9),
        )
        uploads.exported(exported, step)
    summary = {
        "kind": "summary",
        "steps": step,
        "resumed_from": start,
        "final_loss": loss,
        "val_loss": val_loss,
        "parameters": model.num_params(),
        "flops_per_token": fpt,
        "world_size": d.world_size,
        **rec.run_throughput(),
        "peak_tflops_per_device": peak,
        "peak_source": peak_src,
        "peak_mem_gib": metrics.peak_memory_gib(d.device),
        "checkpoint": str(last_ckpt["path"]) if last_ckpt["path"] else None,
        "export": str(exported) if exported else None,
    }
    if d.is_main:
        rec.write(summary)
        png = rec.plot() if cfg.metrics.plot else None
        rec.close()
        (rec.dir / "summary.json").write_text(json.dumps(summary, indent=1))
        print(
            f"trainer: done: {step - start} steps ({start + 1}..{step}) on {d.world_size} "
            f"rank(s); train loss {loss:.4f}"
            + (f", validation loss {val_loss:.4f}" if val_loss is not None else "")
            + f"; {summary['tokens_per_s']:,.0f} tok/s, MFU {100 * summary['mfu']:.1f}% of "
            f"{peak:.3g} TFLOP/s ({peak_src}), data {100 * summary['data_share']:.0f}%, "
            f"peak mem {summary['peak_mem_gib']:.2f} GiB",
            flush=True,
        )
        print(
            f"trainer: metrics {rec.path}"
            + (f", loss curve {png}" if png else "")
            + f", summary {rec.dir / 'summary.json'}, checkpoint {summary['checkpoint']}"
            + (f", weights {exported}" if exported else ""),
            flush=True,
        )
    saver.close()
    uploads.finish()  # an upload still running (none due at the end) ends before the barrier
    # Every rank finishes its collectives before any rank tears the process group down: a rank
    # destroying gloo while its worker threads still hold async work from the last FSDP
    # all-gathers aborts ("terminate called without an active exception"; pytorch/pytorch#179291
    # describes the same teardown race), and torchrun then reports the whole run failed.
    torch.distributed.barrier()
    return summary


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = config.from_args(argv)
        run(cfg)
    except config.ConfigError as e:
        print(f"trainer: {e}", file=sys.stderr, flush=True)
        return EXIT_CONFIG
    except NonFiniteError as e:
        print(f"trainer: error: {e}", file=sys.stderr, flush=True)
        return EXIT_NONFINITE
    except SystemExit as e:
        return int(e.code or 0)
    except Exception as e:
        # A CUDA OOM or an S3 4xx fails the same way after a restart: exit 2, not a retry.
        why = permanent_error(e)
        if why is None:
            raise
        print(f"trainer: error: {why}", file=sys.stderr, flush=True)
        return EXIT_CONFIG
    finally:
        _Stop.uninstall()
        # On a way out by an error, a save of an earlier step still in flight completes before
        # its process group goes.
        checkpoint_async.drain_in_flight()
        distributed.shutdown()
    return 0
