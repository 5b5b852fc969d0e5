"""Document sources: endless iterators of text, looping over finite data in a fixed order.

- synthetic: generated short stories and sums, deterministic, no download (tests, the demo);
- local: `.txt` files (one document per blank-line-separated paragraph) and `.jsonl` files
  (one document per line, field `data.text_field`), in sorted path order; an `s3://` path names
  one object or a prefix, read as a stream (trainer/s3_store.py);
- hf: Hugging Face `datasets` in streaming mode: a hub name, or a local file/directory of
  JSON lines, text or Parquet read through the same streaming code; an `s3://` path is copied
  to the local cache first (`datasets` reads local files).

Validation documents are held out by content hash (every `data.val_holdout`-th), so the split is the
same across epochs, ranks and restarts; `data.val_split` uses a separate hub split instead.
"""

from __future__ import annotations

import glob
import itertools
import json
import os
import random
import zlib
from collections.abc import Iterator

from .config_sections import ConfigError, DataConfig

_NAMES = ["Ada", "Bo", "Cy", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kit", "Lu"]
_THINGS = ["apples", "books", "coins", "stones", "shells", "cards", "pens", "keys"]
_PLACES = ["the market", "the river", "the hill", "the school", "the harbour", "the mill"]


def synthetic_document(index: int) -> str:
    """A short story whose counts add up and a few sums: learnable structure for a small model."""
    rng = random.Random(index)
    a, b = rng.sample(_NAMES, 2)
    thing, place = rng.choice(_THINGS), rng.choice(_PLACES)
    n = rng.randint(3, 19)
    k = rng.randint(1, n - 1)
    lines = [
        f"{a} went to {place} with {n} {thing}.",
        f"{a} gave {k} {thing} to {b}.",
        f"Now {a} has {n - k} {thing} and {b} has {k} {thing}.",
    ]
    for _ in range(rng.randint(1, 3)):
        x, y = rng.randint(0, 99), rng.randint(0, 99)
        lines.append(f"{x} + {y} = {x + y}.")
    return " ".join(lines)


def _synthetic() -> Iterator[str]:
    return (synthetic_document(i) for i in itertools.count())


def _is_s3(path: str | None) -> bool:
    return bool(path) and path.startswith("s3://")


def _local_files(path: str) -> list[str]:
    if _is_s3(path):
        from . import s3_store

        bucket, _ = s3_store.split_url(path)
        files = [f"s3://{bucket}/{k}" for k in s3_store.data_keys(path)]
    elif os.path.isdir(path):
        files = sorted(
            f
            for ext in ("txt", "jsonl", "json")
            for f in glob.glob(os.path.join(path, "**", f"*.{ext}"), recursive=True)
        )
    else:
        files = [path] if os.path.exists(path) else []
    if not files:
        raise ConfigError([f"data.path={path}: no .txt or .jsonl files there"])
    return files


def _lines(f: str) -> Iterator[str]:
    """A file's lines with their line ends: a local path, or an S3 object read as a stream."""
    if _is_s3(f):
        from . import s3_store

        bucket, key = s3_store.split_url(f)
        yield from s3_store.stream_lines(bucket, key)
        return
    with open(f, encoding="utf-8") as fh:
        yield from fh


def _paragraphs(lines: Iterator[str]) -> Iterator[str]:
    """Blank-line-separated paragraphs (an empty line ends one), stripped, none empty."""
    para: list[str] = []
    for line in itertools.chain(lines, ["\n"]):
        if line in ("\n", ""):
            text = "".join(para).strip()
            if text:
                yield text
            para = []
        else:
            para.append(line)


def _local_once(files: list[str], text_field: str) -> Iterator[str]:
    for f in files:
        if not f.endswith((".jsonl", ".json")):
            yield from _paragraphs(_lines(f))
            continue
        for n, line in enumerate(_lines(f), 1):
            if line.strip():
                try:
                    yield json.loads(line)[text_field]
                except (KeyError, ValueError) as e:
                    raise ConfigError(
                        [f"data.text_field={text_field}: {f}:{n} has no such text field ({e})"]
                    ) from None


def _hf_dataset(cfg: DataConfig, split: str):
    import datasets

    path = cfg.path
    files = None
    if _is_s3(path):
        from . import s3_store

        cache = os.path.join(os.path.expanduser("~"), ".cache", "trainstack", "s3")
        files = s3_store.download_prefix(
            path, cache, suffixes=(*s3_store.DATA_SUFFIXES, ".parquet")
        )
        if not files:
            raise ConfigError([f"data.path={path}: no .txt, .jsonl or .parquet objects there"])
    elif path and os.path.exists(path):
        files = _local_files(path) if os.path.isdir(path) else [path]
    if files:
        builder = {"txt": "text", "parquet": "parquet"}.get(files[0].rsplit(".", 1)[-1], "json")
        return datasets.load_dataset(
            builder, data_files={split: files}, split=split, streaming=True
        )
    return datasets.load_dataset(path, cfg.name, split=split, streaming=True)


def _hf_once(cfg: DataConfig, split: str) -> Iterator[str]:
    for row in _hf_dataset(cfg, split):
        if cfg.text_field not in row:
            raise ConfigError(
                [
                    f"data.text_field={cfg.text_field}: not a column of {cfg.path} "
                    f"(columns: {', '.join(row)})"
                ]
            )
        yield row[cfg.text_field]


def _forever(make_once) -> Iterator[str]:
    while True:
        empty = True
        for doc in make_once():
            empty = False
            yield doc
        if empty:
            raise ConfigError(["data.path: the source has no documents"])


def raw_documents(cfg: DataConfig, split: str | None = None) -> Iterator[str]:
    if cfg.source == "synthetic":
        return _synthetic()
    if cfg.source == "local":
        files = _local_files(cfg.path)
        return _forever(lambda: _local_once(files, cfg.text_field))
    split = split or cfg.split
    return _forever(lambda: _hf_once(cfg, split))


def is_heldout(text: str, every: int) -> bool:
    return zlib.crc32(text.encode("utf-8")) % every == 0


def train_documents(cfg: DataConfig) -> Iterator[str]:
    docs = raw_documents(cfg)
    if cfg.source == "hf" and cfg.val_split:
        return docs
    return (d for d in docs if not is_heldout(d, cfg.val_holdout))


def val_documents(cfg: DataConfig) -> Iterator[str]:
    if cfg.source == "hf" and cfg.val_split:
        return raw_documents(cfg, cfg.val_split)
    return (d for d in raw_documents(cfg) if is_heldout(d, cfg.val_holdout))
