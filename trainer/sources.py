"""Document sources: endless iterators of text, looping over finite data in a fixed order.

- synthetic: generated short stories and sums, deterministic, no download (tests, the demo);
- local: `.txt` files (one document per blank-line-separated paragraph) and `.jsonl` files
  (one document per line, field `data.text_field`), in sorted path order; an `s3://` path names
  one object or a prefix, read as a stream (trainer/s3_store.py);
- hf: Hugging Face `datasets` in streaming mode: a hub name, or a local file/directory of
  JSON lines, text or Parquet read through the same streaming code; an `s3://` path is copied
  to the local cache first (`datasets` reads local files).

With data.format prompt_response or chat, a document is a fine-tuning example instead of a text:
a JSON line's (or an hf row's) fields, checked here (trainer/finetune_examples.py), so a bad line
stops the run naming its file and line.

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
from typing import Any

from . import records
from .config_sections import ConfigError, DataConfig
from .finetune_examples import Example, fields_of, format_hint

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


def _local_files(path: str) -> list[tuple[str, int]]:
    """(file, size) of the data at `path`, in sorted order."""
    if _is_s3(path):
        from . import s3_store

        bucket, _ = s3_store.split_url(path)
        files = [(f"s3://{bucket}/{k}", n) for k, n in s3_store.data_objects(path)]
    elif os.path.isdir(path):
        names = sorted(
            f
            for ext in ("txt", "jsonl", "json")
            for f in glob.glob(os.path.join(path, "**", f"*.{ext}"), recursive=True)
        )
        files = [(f, os.path.getsize(f)) for f in names]
    else:
        files = [(path, os.path.getsize(path))] if os.path.exists(path) else []
    if not files:
        raise ConfigError([f"data.path={path}: no .txt or .jsonl files there"])
    return files


def _chunks(f: str, start: int) -> Iterator[bytes]:
    """A file's bytes from `start` on: a local path (seek), or an S3 object (a ranged GET)."""
    if _is_s3(f):
        from . import s3_store

        bucket, key = s3_store.split_url(f)
        yield from s3_store.read_chunks(bucket, key, start, size=records.CHUNK)
        return
    with open(f, "rb") as fh:
        fh.seek(start)
        while chunk := fh.read(records.CHUNK):
            yield chunk


def _is_jsonl(f: str) -> bool:
    return f.endswith((".jsonl", ".json"))


def _line_of(f: str, byte: int) -> int:
    """The line number (from 1) of the byte at offset `byte` of file `f`: for an error only,
    since it reads the file up to there."""
    newlines, seen = 0, 0
    for chunk in _chunks(f, 0):
        newlines += chunk.count(b"\n", 0, byte - seen)
        seen += len(chunk)
        if seen >= byte:
            break
    return newlines + 1


def _where(f: str, byte: int) -> str:
    return f"{f} line {_line_of(f, byte)}"


def _parse_line(f: str, start: int, line: str, cfg: DataConfig) -> str | Example:
    """A .jsonl line's document: its text field, or, for a fine-tuning format, its example."""
    try:
        record = json.loads(line)
    except ValueError as e:
        raise ConfigError([f"data.path: {_where(f, start)} is not JSON ({e})"]) from None
    if cfg.format == "text":
        if isinstance(record, dict) and isinstance(record.get(cfg.text_field), str):
            return record[cfg.text_field]
        raise ConfigError(
            [
                f"data.text_field={cfg.text_field}: {_where(f, start)} has no such text field"
                + format_hint(record)
            ]
        )
    fields, problem = fields_of(record, cfg.format)
    if fields is None:
        raise ConfigError([f"data.format={cfg.format}: {_where(f, start)}: {problem}"])
    return Example(fields, lambda: _where(f, start))


def _file_documents(f: str, a: int, b: int, cfg: DataConfig) -> Iterator[tuple[int, int, Any]]:
    """(start, end, document) of the documents of file `f` that start in its bytes [a, b):
    .jsonl lines (field `data.text_field`, or an example of `data.format`), or .txt
    blank-line-separated paragraphs, stripped."""
    jsonl = _is_jsonl(f)
    if cfg.format != "text" and not jsonl:
        raise ConfigError([f"data.format={cfg.format}: {f} is not a .jsonl/.json file"])
    sep = records.LINE if jsonl else records.PARAGRAPH
    for start, end, raw in records.records(_chunks(f, records.read_from(a)), a, b, sep):
        text = raw.decode("utf-8").replace("\r\n", "\n").strip()
        if not text:
            continue
        yield start, end, _parse_line(f, start, text, cfg) if jsonl else text


def _local_once(files: list[tuple[str, int]], cfg: DataConfig) -> Iterator[str | Example]:
    for f, size in files:
        for _, _, doc in _file_documents(f, 0, size, cfg):
            yield doc


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
        files = [f for f, _ in _local_files(path)] if os.path.isdir(path) else [path]
    if files:
        builder = {"txt": "text", "parquet": "parquet"}.get(files[0].rsplit(".", 1)[-1], "json")
        return datasets.load_dataset(
            builder, data_files={split: files}, split=split, streaming=True
        )
    return datasets.load_dataset(path, cfg.name, split=split, streaming=True)


def _document(row: dict, cfg: DataConfig) -> str | Example:
    """An hf row's document: its text column, or, for a fine-tuning format, its example."""
    if cfg.format == "text":
        if cfg.text_field not in row:
            raise ConfigError(
                [
                    f"data.text_field={cfg.text_field}: not a column of {cfg.path} "
                    f"(columns: {', '.join(row)})" + format_hint(row)
                ]
            )
        return row[cfg.text_field]
    fields, problem = fields_of(row, cfg.format)

    def where() -> str:  # rows have no line number: the start of the row itself
        return f"data.path={cfg.path}: the row {json.dumps(row, default=str)[:200]}"

    if fields is None:
        raise ConfigError([f"data.format={cfg.format}: {where()}: {problem}"])
    return Example(fields, where)


def _hf_once(cfg: DataConfig, split: str) -> Iterator[str | Example]:
    for row in _hf_dataset(cfg, split):
        yield _document(row, cfg)


def _forever(make_once, keep=None, none_kept: str = "") -> Iterator[str | Example]:
    """The documents `make_once` gives that `keep` keeps, pass after pass. A pass that keeps
    none is an error (`none_kept`), not an endless loop over a source that has nothing to give."""
    while True:
        seen = kept = False
        for doc in make_once():
            seen = True
            if keep is None or keep(doc):
                kept = True
                yield doc
        if not seen:
            raise ConfigError(["data.path: the source has no documents"])
        if not kept:
            raise ConfigError([none_kept])


def raw_documents(
    cfg: DataConfig, split: str | None = None, keep=None, none_kept: str = ""
) -> Iterator[str | Example]:
    if cfg.source == "synthetic":
        docs = _synthetic()  # endless, and every kind of document comes
        return docs if keep is None else (d for d in docs if keep(d))
    if cfg.source == "local":
        files = _local_files(cfg.path)
        return _forever(lambda: _local_once(files, cfg), keep, none_kept)
    split = split or cfg.split
    return _forever(lambda: _hf_once(cfg, split), keep, none_kept)


def is_heldout(doc: str | Example, every: int) -> bool:
    text = doc if isinstance(doc, str) else doc.content()
    return zlib.crc32(text.encode("utf-8")) % every == 0


def train_documents(cfg: DataConfig) -> Iterator[str | Example]:
    if cfg.source == "hf" and cfg.val_split:
        return raw_documents(cfg)
    return raw_documents(
        cfg,
        keep=lambda d: not is_heldout(d, cfg.val_holdout),
        none_kept=f"data.val_holdout={cfg.val_holdout}: every document of data.path="
        f"{cfg.path} is held out for validation; raise data.val_holdout or add documents",
    )


def val_documents(cfg: DataConfig) -> Iterator[str | Example]:
    if cfg.source == "hf" and cfg.val_split:
        return raw_documents(cfg, cfg.val_split)
    # A small file may hold no document whose hash picks it (about 1 in val_holdout does).
    return raw_documents(
        cfg,
        keep=lambda d: is_heldout(d, cfg.val_holdout),
        none_kept=f"data.val_holdout={cfg.val_holdout}: no document of data.path={cfg.path} "
        f"is held out for validation (1 in {cfg.val_holdout}, by a hash of its text); lower "
        "data.val_holdout or add documents",
    )


# ------------------------------------------------------------------------------ training shards
#
# Shard k of S reads only its own part of the data, and a cursor says where in that part a
# document starts, so a resume seeks there instead of reading what came before:
# - synthetic: documents k, k + S, k + 2S, ...; the cursor is the count j (document k + jS);
# - local (files or S3 objects): the files' bytes laid end to end (total T) are cut into S equal
#   ranges, shard k owning the documents that start in [kT/S, (k+1)T/S) (trainer/records.py);
#   the cursor is epoch x T + the byte where the document starts;
# - hf: the dataset's file shards (Parquet row groups after `reshard()`) split into G groups,
#   G the largest divisor of S not above their number; shard k takes every (S/G)-th example of
#   group k % G (`IterableDataset.shard`). Its cursor is a JSON object: the shard's examples so
#   far `n`, the pass `epoch`, the `file_shard` of the group and the example index `i` within
#   the pass (for the stride), and `datasets`' own `state_dict()` of that one file shard after
#   the previous document. A resume opens that file shard only, at that state (datasets 5.2.0
#   iterable_dataset.py: ArrowExamplesIterable skips whole tables, ExamplesIterable `islice`s),
#   so it re-reads at most part of one file shard. The group is read one file shard at a time
#   (`shard(num_shards, j)`, the same order as the whole) because a whole-group state names the
#   table before the position, which can lie in the previous file. `datasets`' epoch stays 0:
#   `set_epoch(e > 0)` would shuffle the file shards' order per pass. An integer cursor (0, or a
#   checkpoint written before) counts the examples and is replayed up to.
# A shard loops over its part forever; documents held out for validation are skipped.

# (cursor, next cursor, document: a text, or an Example of a fine-tuning format)
Docs = Iterator[tuple[int | dict, int | dict, Any]]


def _empty_shard(k: int, num_shards: int, path: str | None) -> ConfigError:
    return ConfigError(
        [
            f"data.num_shards={num_shards}: shard {k} of data.path={path} holds no training "
            "document; use fewer shards (a smaller global batch) or more data"
        ]
    )


def _synthetic_shard(k: int, num_shards: int, cursor: int) -> Docs:
    for j in itertools.count(cursor):
        yield j, j + 1, synthetic_document(k + j * num_shards)


def _local_shard(cfg: DataConfig, k: int, num_shards: int, cursor: int, keep) -> Docs:
    files = _local_files(cfg.path)
    total = sum(n for _, n in files)
    a, b = k * total // num_shards, (k + 1) * total // num_shards
    epoch, pos = divmod(cursor, total)
    if pos >= b:
        epoch, pos = epoch + 1, a
    pos = max(pos, a)
    while True:
        found, g = False, 0
        for f, size in files:
            lo, hi = max(pos, g), min(b, g + size)
            if lo < hi:
                for start, end, doc in _file_documents(f, lo - g, hi - g, cfg):
                    if keep(doc):
                        found = True
                        yield epoch * total + g + start, epoch * total + g + end, doc
            g += size
        if not found and pos == a:
            raise _empty_shard(k, num_shards, cfg.path)
        epoch, pos = epoch + 1, a


def _hf_group(cfg: DataConfig, k: int, num_shards: int):
    """Shard k's group of file shards, and its stride: it takes example i if i % every == nth."""
    ds = _hf_dataset(cfg, cfg.split)
    try:
        ds = ds.reshard()  # Parquet: a shard per row group (datasets 5.2.0 iterable_dataset.py)
    except (AttributeError, NotImplementedError):
        pass
    groups = max(g for g in range(1, min(num_shards, ds.num_shards) + 1) if num_shards % g == 0)
    part = ds.shard(num_shards=groups, index=k % groups)
    return part, num_shards // groups, k // groups


def _hf_shard(cfg: DataConfig, k: int, num_shards: int, cursor: int | dict, keep) -> Docs:
    part, every, nth = _hf_group(cfg, k, num_shards)
    before = cursor  # the first document's cursor is the one asked for (batches.py compares)
    if isinstance(cursor, dict):
        n, epoch, replay = cursor["n"], cursor["epoch"], 0
        first, i, state = cursor["file_shard"], cursor["i"], cursor["datasets"]
    else:  # an example count: 0 or a checkpoint of an earlier trainer, replayed up to
        n, epoch, replay, first, i, state = 0, 0, cursor, 0, 0, None
    # File shard j alone, each built once: a pass over the group reuses them. The resumed one is
    # a copy of its own, since a loaded state would apply again on every later pass.
    files = [part.shard(num_shards=part.num_shards, index=j) for j in range(part.num_shards)]
    while True:
        full, found, seen = first == 0 and i == 0, False, 0
        for j in range(first, part.num_shards):
            one = files[j]
            if state is not None:
                one = part.shard(num_shards=part.num_shards, index=j)
                one.load_state_dict(state)
                state = None
            for row in one:
                i += 1
                if (i - 1) % every != nth:
                    continue
                n, seen = n + 1, seen + 1
                if n <= replay:
                    continue
                doc = _document(row, cfg)
                if keep(doc):
                    found = True
                    after = {"n": n, "epoch": epoch, "file_shard": j, "i": i}
                    after["datasets"] = one.state_dict()
                    yield before, after, doc
                    before = after
        if full and (not seen or (not found and n - seen >= replay)):
            raise _empty_shard(k, num_shards, cfg.path)
        epoch, first, i = epoch + 1, 0, 0


def shard_documents(cfg: DataConfig, k: int, num_shards: int, cursor: int | dict = 0) -> Docs:
    """Shard k's training documents from `cursor` on (0: the start), endlessly; a cursor is
    JSON (an int, or for hf a dict), so a checkpoint's copy compares equal to the original."""
    if cfg.source == "hf" and cfg.val_split:

        def keep(doc) -> bool:
            return True
    else:

        def keep(doc) -> bool:
            return not is_heldout(doc, cfg.val_holdout)

    if cfg.source == "synthetic":
        return ((c, n, t) for c, n, t in _synthetic_shard(k, num_shards, cursor) if keep(t))
    if cfg.source == "local":
        return _local_shard(cfg, k, num_shards, cursor, keep)
    return _hf_shard(cfg, k, num_shards, cursor, keep)
