"""The export: a Hugging Face Llama directory that transformers' `from_pretrained` and vLLM load
as they would a hub model.

    config.json                  the shape (trainer/hf_config.py), BOS/EOS ids, the dtype
    generation_config.json       the init_from model's own when it had one, else the ids
    model.safetensors            or model-0000K-of-0000N.safetensors + model.safetensors.index.json
    tokenizer.json ...           the run's tokenizer with the files beside it, else the UTF-8
                                 byte tokenizer written as one (vLLM loads none without)

Names follow trainer/hf_names.py. The directory is written under a hidden temporary name beside
the target and renamed into place once every file is on disk, so a reader sees the whole export
or none (an older export at the target is swapped out, then removed). The old format, one
`torch.save` file, is refused: a `.pt` target names the change.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

from . import checkpoint, hf_config, hf_names, hf_safetensors
from .config_sections import ConfigError, ModelConfig
from .durable import fsync_path, publish
from .hf_init import TOKENIZER_FILE, special_tokens
from .model import Transformer
from .tokenizer import EOS_NAMES, ByteTokenizer

# Files that describe a tokenizer, copied from beside the run's tokenizer.json when present.
TOKENIZER_FILES = (
    TOKENIZER_FILE,
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
)
BOS_NAMES = ("<|begin_of_text|>", "<s>", "<bos>", "[CLS]")
DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32}


def check_target(out: str | Path, key: str = "checkpoint.export") -> Path:
    """Refuse the old single-file form before any work is done."""
    out = Path(out)
    if out.suffix == ".pt" or out.is_file():
        raise ConfigError(
            [
                f"{key}={out}: the export is a Hugging Face model directory now (config.json, "
                "model.safetensors, tokenizer), no longer one torch.save .pt file; give a "
                "directory path"
            ]
        )
    return out


def _init_dir(model: ModelConfig) -> Path | None:
    """The local directory the run started from, if it is still there (no download here)."""
    spec = model.init_from
    if not spec or "://" in spec:
        return None
    path = Path(spec).expanduser()
    return path if (path / hf_config.CONFIG_FILE).is_file() else None


def special_ids(model: ModelConfig, tokenizer_path: str | None) -> tuple[int | None, tuple]:
    """(BOS id, EOS ids) for config.json: the init_from model's, else the tokenizer's."""
    init = _init_dir(model)
    if init is not None:
        raw = hf_config.read_json(init, hf_config.CONFIG_FILE) or {}
        hf = hf_config.parse(raw, str(init / hf_config.CONFIG_FILE))
        return hf.bos_token_id, hf.eos_token_ids
    if not tokenizer_path:
        return ByteTokenizer.bos_id, (ByteTokenizer.eos_id,)
    ids = special_tokens(tokenizer_path)
    bos = next((ids[n] for n in BOS_NAMES if n in ids), None)
    eos = next((ids[n] for n in EOS_NAMES if n in ids), None)
    return bos, () if eos is None else (eos,)


def _hf_tensors(state: dict[str, torch.Tensor], model: ModelConfig, dtype: torch.dtype) -> dict:
    """Renamed and cast, emptying `state` as it goes: each float32 tensor can be freed once its
    copy exists (an 8B model's full state is 32 GB in float32 on rank 0's host)."""
    out = {}
    for key in list(state):
        t = state.pop(key)
        name = hf_names.clean(key)
        if model.tie_embeddings and name == "output.weight":
            continue  # the embedding itself; Hugging Face ties it back (tie_word_embeddings)
        out[hf_names.to_hf(name)] = t.detach().to("cpu", dtype).contiguous()
    return out


def _publish(tmp: Path, out: Path) -> None:
    """Every file to disk, then the rename; an older export is moved aside first (a directory
    cannot be renamed over a non-empty one) and removed after."""
    for f in tmp.iterdir():
        fsync_path(f)
    old = out.with_name(f".old-{out.name}-{os.getpid()}")
    if out.exists():
        os.rename(out, old)
    publish(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def write_dir(
    state: dict[str, torch.Tensor],
    model: ModelConfig,
    out: str | Path,
    tokenizer_path: str | None = None,
    dtype: str = "bfloat16",
    max_shard_bytes: int = hf_safetensors.MAX_SHARD_BYTES,
    tokenizer_lost: bool = False,
) -> Path:
    """A full state dict (trainer names; emptied here) as a Hugging Face directory at `out`,
    atomically. No tokenizer_path: the run used bytes, unless its tokenizer file is lost."""
    out = check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".tmp-{out.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        hf_safetensors.write(_hf_tensors(state, model, DTYPES[dtype]), tmp, max_shard_bytes)
        bos, eos = special_ids(model, tokenizer_path)
        (tmp / hf_config.CONFIG_FILE).write_text(
            json.dumps(hf_config.to_hf(model, bos, eos, dtype), indent=2) + "\n"
        )
        init = _init_dir(model)
        gen = init / hf_config.GENERATION_CONFIG_FILE if init else None
        if gen is not None and gen.is_file():
            shutil.copyfile(gen, tmp / hf_config.GENERATION_CONFIG_FILE)
        else:
            (tmp / hf_config.GENERATION_CONFIG_FILE).write_text(
                json.dumps(hf_config.generation_config(bos, eos), indent=2) + "\n"
            )
        if tokenizer_path:
            _copy_tokenizer(Path(tokenizer_path), tmp, bos, eos, model.max_seq_len)
        elif not tokenizer_lost:
            _write_byte_tokenizer(tmp, model.max_seq_len)
        _publish(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _copy_tokenizer(path: Path, dest: Path, bos: int | None, eos: tuple, max_len: int) -> None:
    """The tokenizer.json and the files describing it; without a tokenizer_config.json of its
    own, a minimal one, so AutoTokenizer knows its class and special tokens."""
    shutil.copyfile(path, dest / TOKENIZER_FILE)
    for name in TOKENIZER_FILES[1:]:
        if (path.parent / name).is_file():
            shutil.copyfile(path.parent / name, dest / name)
    if not (dest / "tokenizer_config.json").is_file():
        _minimal_tokenizer_config(dest, bos, eos, max_len)


def _minimal_tokenizer_config(dest: Path, bos: int | None, eos: tuple, max_len: int) -> None:
    by_id = {i: t for t, i in special_tokens(dest / TOKENIZER_FILE).items()}
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": by_id.get(bos),
        "eos_token": by_id.get(eos[0]) if eos else None,
        "model_max_length": max_len,
    }
    (dest / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n")


def _write_byte_tokenizer(dest: Path, max_len: int) -> None:
    """The trainer's ByteTokenizer as a tokenizer.json. vLLM loads the tokenizer of the model
    directory when the engine starts and stops without one (v0.11.0
    vllm/transformers_utils/tokenizer.py get_tokenizer, AutoTokenizer). The same ids: a BPE
    without merges whose vocabulary is the 256 byte tokens at their byte values, so byte fallback
    spells every character as its UTF-8 bytes; BOS and EOS are 256 and 257, and BOS goes before
    a prompt as `encode(text, specials=True)` puts it."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, processors

    bos, eos = BOS_NAMES[0], EOS_NAMES[0]
    byte_tokens = {f"<0x{b:02X}>": b for b in range(256)}
    tok = Tokenizer(models.BPE(vocab=byte_tokens, merges=[], byte_fallback=True))
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in (bos, eos)])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, ByteTokenizer.bos_id)]
    )
    tok.save(str(dest / TOKENIZER_FILE))
    _minimal_tokenizer_config(dest, ByteTokenizer.bos_id, (ByteTokenizer.eos_id,), max_len)


def export_full(
    model,
    cfg,
    out: str | Path,
    rank: int,
    dtype: str = "bfloat16",
    max_shard_bytes: int = hf_safetensors.MAX_SHARD_BYTES,
) -> Path | None:
    """The sharded model gathered to rank 0's CPU and written there (all ranks must call)."""
    full = get_model_state_dict(
        model, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
    )
    written = None
    if rank == 0:
        written = write_dir(full, cfg.model, out, cfg.data.tokenizer, dtype, max_shard_bytes)
    dist.barrier()
    return written


def export_from_checkpoint(
    ckpt: str | Path,
    out: str | Path,
    dtype: str = "bfloat16",
    max_shard_bytes: int = hf_safetensors.MAX_SHARD_BYTES,
) -> Path:
    """A sharded checkpoint as a Hugging Face directory, in one process, no process group."""
    out = check_target(out, "OUT")
    ckpt = Path(ckpt)
    stored = json.loads((ckpt / checkpoint.STATE_FILE).read_text())["config"]
    # Only the model's shape and the tokenizer are read: the rest of a stored config may name
    # options this trainer no longer has (metrics.progress, before it was removed).
    model_cfg = ModelConfig.model_validate(stored["model"])
    with torch.device("meta"):
        model = Transformer(model_cfg, rope_len=stored["seq_len"])
    model.to_empty(device="cpu")  # every weight is overwritten by the load
    state = {"model": model.state_dict()}
    with warnings.catch_warnings():  # "assuming ... a single process": that is the point here
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.load(state, checkpoint_id=str(ckpt), no_dist=True)
    tokenizer_path = stored.get("data", {}).get("tokenizer")
    lost = bool(tokenizer_path) and not Path(tokenizer_path).is_file()
    if lost:
        print(f"export: the run's tokenizer {tokenizer_path} is gone: exported without it")
        tokenizer_path = None
    return write_dir(
        state["model"], model_cfg, out, tokenizer_path, dtype, max_shard_bytes, tokenizer_lost=lost
    )
