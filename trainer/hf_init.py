"""`model.init_from`: start a fresh run from pretrained Hugging Face Llama weights.

At start (`prepare`, every run, resumed or not): the directory's config.json must describe the
model the config builds (trainer/hf_config.py names every key that differs), and its
tokenizer.json becomes the run's tokenizer unless data.tokenizer is set; the tokenizer's size
and special tokens must fit the weights (`check_tokenizer`). After the model is built and
sharded, a fresh run (no checkpoint to resume) overwrites its random init with the weights
(`load_weights`): each rank reads, by safetensors slices, only the rows of its own FSDP shard of
each parameter, so no process ever holds a whole parameter, let alone a whole model. A resumed
run takes its checkpoint as always and reads no weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from . import hf_config, hf_names, hf_safetensors
from .config_sections import ConfigError
from .init_sources import KEY, cache_root, is_remote, resolve_init_from
from .model import local_rows
from .train_config import TrainConfig

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"


@dataclass(frozen=True)
class InitFrom:
    directory: Path
    hf: hf_config.HfModel


def read_config(directory: Path) -> hf_config.HfModel:
    raw = hf_config.read_json(directory, hf_config.CONFIG_FILE)
    if raw is None:
        raise ConfigError([f"{KEY}={directory}: no {hf_config.CONFIG_FILE}"])
    return hf_config.parse(raw, str(directory / hf_config.CONFIG_FILE))


def prepare(
    cfg: TrainConfig, rank: int = 0, local_rank: int = 0, world_size: int = 1
) -> tuple[TrainConfig, InitFrom | None]:
    """The config to run (data.tokenizer filled in from the directory when unset) and the
    weights to start from; ConfigError when the config contradicts them. Every rank calls it: a
    hub or S3 model is fetched once for the job, beside the checkpoints (init_sources.py), the
    other ranks waiting in a gloo group of their own whose timeout covers the download."""
    if not cfg.model.init_from:
        return cfg, None
    barrier = None
    if is_remote(cfg.model.init_from) and world_size > 1:
        import torch.distributed as dist

        from .init_sources import DOWNLOAD_TIMEOUT

        group = dist.new_group(backend="gloo", timeout=DOWNLOAD_TIMEOUT)

        def barrier() -> None:
            dist.barrier(group=group)

    directory = resolve_init_from(
        cfg.model.init_from,
        cache=cache_root(cfg.checkpoint.dir),
        rank=rank,
        local_rank=local_rank,
        barrier=barrier,
    )
    hf = read_config(directory)
    issues = hf_config.contradictions(cfg.model, hf)
    if issues:
        raise ConfigError(issues)
    if cfg.data.tokenizer is None and (directory / TOKENIZER_FILE).is_file():
        data = cfg.data.model_copy(update={"tokenizer": str(directory / TOKENIZER_FILE)})
        cfg = cfg.model_copy(update={"data": data})
    return cfg, InitFrom(directory, hf)


def special_tokens(tokenizer_json: str | Path) -> dict[str, int]:
    """{content: id} of a tokenizer.json's added tokens (where Llama's specials live)."""
    data = json.loads(Path(tokenizer_json).read_text())
    return {t["content"]: t["id"] for t in data.get("added_tokens", [])}


def _token_name(value) -> str | None:
    """tokenizer_config.json writes a special token as its text or as {"content": text, ...}."""
    return value.get("content") if isinstance(value, dict) else value


def check_tokenizer(init: InitFrom, tok, tokenizer_path: str | None) -> None:
    """The run's tokenizer against the weights: no id past the embedding, documents ending in
    one of the model's EOS ids, and a tokenizer_config.json beside the tokenizer naming the
    same BOS and EOS as config.json."""
    hf, key = init.hf, f"data.tokenizer={tokenizer_path or 'none (UTF-8 bytes)'}"
    issues = []
    if tok.vocab_size > hf.model["vocab_size"]:
        issues.append(
            f"{key}: {tok.vocab_size} tokens, more than the vocab_size="
            f"{hf.model['vocab_size']} of {hf.source}"
        )
    if hf.eos_token_ids and tok.eos_id not in hf.eos_token_ids:
        issues.append(
            f"{key}: ends documents with token {tok.eos_id}, which is not an eos_token_id of "
            f"{hf.source} ({list(hf.eos_token_ids)})"
        )
    if hf.bos_token_id is not None and hf.bos_token_id >= tok.vocab_size:
        issues.append(
            f"{key}: has no token {hf.bos_token_id}, the bos_token_id of {hf.source} "
            f"({tok.vocab_size} tokens)"
        )
    if tokenizer_path:
        beside = Path(tokenizer_path).parent
        named = hf_config.read_json(beside, TOKENIZER_CONFIG_FILE, "data.tokenizer") or {}
        ids = special_tokens(tokenizer_path) if named else {}
        for role, allowed in (
            ("bos", () if hf.bos_token_id is None else (hf.bos_token_id,)),
            ("eos", hf.eos_token_ids),
        ):
            name = _token_name(named.get(f"{role}_token"))
            if name is None or not allowed:
                continue
            if ids.get(name) not in allowed:
                issues.append(
                    f"{key}: {beside / TOKENIZER_CONFIG_FILE} names {role}_token {name!r} "
                    f"(id {ids.get(name)}), {hf.source} has {role}_token_id {list(allowed)}"
                )
    if issues:
        raise ConfigError(issues)


@dataclass(frozen=True)
class Loaded:
    read_bytes: int  # this rank's
    total_bytes: int  # of the whole model, as stored
    tensors: int


@torch.no_grad()
def load_weights(model: torch.nn.Module, init: InitFrom) -> Loaded:
    """Overwrite every parameter of a sharded (or plain) model with the directory's weights,
    this rank's rows only. RoPE tables are the model's own (init_weights), from config."""
    directory = init.directory
    mapping = hf_safetensors.weight_map(directory)
    params = {hf_names.clean(n): p for n, p in model.named_parameters()}
    wanted = {hf_names.to_hf(n): n for n in params}
    missing = sorted(set(wanted) - set(mapping))
    if missing:
        raise ConfigError([f"{KEY}={directory}: no tensor {', '.join(missing[:4])}"])
    tied = init.hf.model["tie_embeddings"]
    unused = []
    for name in sorted(set(mapping) - set(wanted)):
        try:
            ours = hf_names.from_hf(name)
        except KeyError:
            ours = name
        # A tied checkpoint may still store lm_head (the embedding again); RoPE buffers of old
        # conversions are derived here.
        if ours is not None and not (tied and ours == "output.weight"):
            unused.append(name)
    if unused:
        raise ConfigError(
            [f"{KEY}={directory}: tensors this model has no place for: {', '.join(unused[:4])}"]
        )
    read = total = 0
    with hf_safetensors.open_files(directory, {mapping[h] for h in wanted}) as files:
        for hf_name, ours in wanted.items():
            param = params[ours]
            local, row0 = local_rows(param)
            rows = local.shape[0] if local.ndim else 1
            part = hf_safetensors.read_rows(
                files[mapping[hf_name]], hf_name, param.shape, row0, rows
            )
            local.copy_(part.to(device=local.device, dtype=local.dtype))
            read += part.numel() * part.element_size()
            total += param.numel() * part.element_size()
    return Loaded(read, total, len(wanted))
