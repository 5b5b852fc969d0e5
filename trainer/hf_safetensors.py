"""Hugging Face's weight files: `model.safetensors`, or shards listed by
`model.safetensors.index.json` ({"metadata": {"total_size": bytes}, "weight_map": {name: file}}),
the layout transformers' save_pretrained writes and from_pretrained and vLLM read.

Reading is by slices: `safe_open(...).get_slice(name)[a:b]` reads rows a..b of one tensor from the
memory-mapped file, so a rank reads only the rows of its own shard. Writing splits the tensors in
order into files of at most `max_shard_bytes` (a tensor larger than that gets a file of its own),
named model-00001-of-0000N.safetensors as huggingface_hub's split_torch_state_dict_into_shards
names them (huggingface_hub 2.4.0 serialization/_base.py, whose default limit is the 5 GB used
here; transformers 5.23.0's save_pretrained passes 50 GB).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import torch

from .config_sections import ConfigError

SINGLE = "model.safetensors"
INDEX = "model.safetensors.index.json"
MAX_SHARD_BYTES = 5 * 10**9


def weight_map(directory: Path, key: str = "model.init_from") -> dict[str, str]:
    """{tensor name: file name} of a model directory."""
    from safetensors import safe_open

    index = directory / INDEX
    if index.is_file():
        try:
            mapping = json.loads(index.read_text())["weight_map"]
        except (OSError, ValueError, KeyError) as e:
            raise ConfigError([f"{key}={directory}: cannot read {INDEX} ({e})"]) from None
        missing = sorted({f for f in mapping.values() if not (directory / f).is_file()})
        if missing:
            raise ConfigError([f"{key}={directory}: {INDEX} lists missing files {missing}"])
        return dict(mapping)
    if (directory / SINGLE).is_file():
        with safe_open(directory / SINGLE, framework="pt") as f:
            return dict.fromkeys(f.keys(), SINGLE)
    raise ConfigError([f"{key}={directory}: neither {SINGLE} nor {INDEX}"])


@contextmanager
def open_files(directory: Path, files: set[str]) -> Iterator[dict]:
    """{file name: safe_open handle}, each opened once (memory-mapped, nothing read yet)."""
    from safetensors import safe_open

    with ExitStack() as stack:
        yield {
            f: stack.enter_context(safe_open(directory / f, framework="pt", device="cpu"))
            for f in sorted(files)
        }


def read_rows(handle, name: str, shape: torch.Size, row0: int, rows: int) -> torch.Tensor:
    """Rows row0..row0+rows of tensor `name`, after checking its full shape is `shape`."""
    piece = handle.get_slice(name)
    stored = tuple(piece.get_shape())
    if stored != tuple(shape):
        raise ConfigError(
            [f"model.init_from: {name} has shape {list(stored)}, the model {list(shape)}"]
        )
    return piece[row0 : row0 + rows]


def plan_shards(sizes: dict[str, int], max_shard_bytes: int) -> list[list[str]]:
    """Names grouped in order into files of at most max_shard_bytes (a larger tensor alone)."""
    shards: list[list[str]] = [[]]
    used = 0
    for name, size in sizes.items():
        if shards[-1] and used + size > max_shard_bytes:
            shards.append([])
            used = 0
        shards[-1].append(name)
        used += size
    return shards


def write(
    tensors: dict[str, torch.Tensor], directory: Path, max_shard_bytes: int = MAX_SHARD_BYTES
) -> list[str]:
    """`tensors` (contiguous, unshared CPU tensors) into directory as one file or shards with
    an index; returns the file names written."""
    from safetensors.torch import save_file

    sizes = {name: t.numel() * t.element_size() for name, t in tensors.items()}
    shards = plan_shards(sizes, max_shard_bytes)
    meta = {"format": "pt"}  # transformers refuses safetensors without it
    if len(shards) == 1:
        save_file(tensors, str(directory / SINGLE), metadata=meta)
        return [SINGLE]
    names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    mapping = {}
    for file, shard in zip(names, shards):
        save_file({n: tensors[n] for n in shard}, str(directory / file), metadata=meta)
        mapping.update(dict.fromkeys(shard, file))
    index = {"metadata": {"total_size": sum(sizes.values())}, "weight_map": mapping}
    (directory / INDEX).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return [*names, INDEX]
