"""Data at scale: each rank reads only its own shards, and a resume seeks instead of replaying.
The reads are counted where they happen: the bytes pulled from files (sources._chunks), the
synthetic documents generated (sources.synthetic_document) and the files and rows `datasets`
streams (its JSON builder's table generator)."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from trainer import config, records, sources, tokenizer
from trainer.batches import ShardedBatches

BYTES = tokenizer.ByteTokenizer()
STEPS = 6


def _ranges_records(data: bytes, cuts: list[int], sep) -> list[tuple[int, int, bytes]]:
    edges = [0, *cuts, len(data)]
    out = []
    for a, b in zip(edges, edges[1:], strict=False):
        chunks = (data[i : i + 5] for i in range(records.read_from(a), len(data), 5))
        out += list(records.records(chunks, a, b, sep))
    return out


@pytest.mark.parametrize("sep", [records.LINE, records.PARAGRAPH], ids=["line", "paragraph"])
def test_any_split_of_a_file_yields_each_record_once(sep):
    data = b"a\nbb\n\nccc\r\n\r\n\n\ndd d\n\ne\nf\n\n\ng"
    whole = _ranges_records(data, [], sep)
    assert b"".join(r for _, _, r in whole) == data  # records tile the file
    rng = random.Random(0)
    for _ in range(300):
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, 6)))
        assert _ranges_records(data, cuts, sep) == whole


def test_paragraphs_are_the_blank_line_separated_ones():
    data = b"one\nstill one\n\ntwo\r\n\r\nthree\n\n\n\nfour"
    texts = [r.strip() for *_, r in _ranges_records(data, [], records.PARAGRAPH) if r.strip()]
    assert texts == [b"one\nstill one", b"two", b"three", b"four"]


@pytest.fixture
def big_corpus(tmp_path):
    rng = random.Random(1)
    docs = [" ".join(rng.choice(["ab", "cde", "f", "ghij"]) for _ in range(60)) for _ in range(600)]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in docs[:300]))
    (tmp_path / "b.txt").write_text("\n\n".join(docs[300:]))
    return tmp_path


@pytest.fixture
def counted(monkeypatch):
    """Bytes pulled from files, and the file offsets reads start at, since the last reset."""
    log = {"bytes": 0, "starts": []}
    real = sources._chunks

    def chunks(f, start):
        log["starts"].append((f, start))
        for c in real(f, start):
            log["bytes"] += len(c)
            yield c

    monkeypatch.setattr(sources, "_chunks", chunks)
    monkeypatch.setattr(records, "CHUNK", 256)  # small reads, so a count follows consumption
    return log


def _local(path, shards=8):
    return config.build(
        "tiny",
        {"global_batch_size": 8, "micro_batch_size": 1, "data.num_shards": shards,
         "data": {"source": "local", "path": str(path)}},
    )  # fmt: skip


def _run(cfg, rank, world, state=None, steps=STEPS):
    data = ShardedBatches(cfg, BYTES, rank, world, state)
    for _ in range(steps):
        data.step_sequences()
    return data


def test_each_rank_reads_a_world_th_of_the_bytes(big_corpus, counted):
    cfg = _local(big_corpus)
    _run(cfg, 0, 1)
    one = counted["bytes"]
    for world in (2, 4):
        per_rank = []
        for r in range(world):
            counted["bytes"] = 0
            _run(cfg, r, world)
            per_rank.append(counted["bytes"])
        print(f"world {world}: bytes read per rank {per_rank} (world 1: {one})")
        assert sum(per_rank) == pytest.approx(one, rel=0.05)  # nothing read twice
        assert max(per_rank) <= one / world * 1.25  # each rank a 1/world share, not all of it


def test_a_resume_reads_nothing_before_its_position(big_corpus, counted):
    cfg = _local(big_corpus)
    old = [_run(cfg, r, 2) for r in range(2)]
    state = json.loads(json.dumps(old[0].state([d.local_state() for d in old])))
    files = sources._local_files(str(big_corpus))
    total = sum(n for _, n in files)
    counted.update(bytes=0, starts=[])
    new = ShardedBatches(cfg, BYTES, 0, 1, state)
    new.step_sequences()
    # Every shard's first read starts at its document (less the separator's context bytes) ...
    first = {}
    for f, start in counted["starts"]:
        first.setdefault(f, []).append(start)
    for k, (cursor, _) in state["shards"].items():
        pos = cursor % total
        f, g = next((f, g) for (f, n), g in zip(files, _offsets(files), strict=True) if pos < g + n)
        assert records.read_from(pos - g) in first[f], k
    # ... so one step after a resume reads what one step needs, not the 6 steps before it.
    print(f"bytes read by the first step after the resume: {counted['bytes']} of {total}")
    assert counted["bytes"] < 8 * (cfg.seq_len + 1 + 2 * 256)


def _offsets(files):
    out, g = [], 0
    for _, n in files:
        out.append(g)
        g += n
    return out


def test_synthetic_documents_are_generated_only_by_their_rank(monkeypatch):
    made = []
    real = sources.synthetic_document
    monkeypatch.setattr(sources, "synthetic_document", lambda i: made.append(i) or real(i))
    cfg = config.build("tiny", {"global_batch_size": 8, "micro_batch_size": 1})
    _run(cfg, 0, 1)
    one = len(made)
    per_rank = []
    for r in range(4):
        made.clear()
        _run(cfg, r, 4)
        per_rank.append(len(made))
        assert all(i % 8 in (r, r + 4) for i in made)  # only its shards' documents
    print(f"world 4: documents generated per rank {per_rank} (world 1: {one})")
    assert sum(per_rank) == one
    old = _run(cfg, 0, 1)
    state = old.state([old.local_state()])
    made.clear()
    ShardedBatches(cfg, BYTES, 0, 1, state).step_sequences()
    assert len(made) <= 8 * 2 and min(made) >= min(int(c) * 8 for c, _ in state["shards"].values())


def test_a_shard_without_documents_names_the_key(tmp_path):
    (tmp_path / "one.jsonl").write_text(json.dumps({"text": "x" * 500}) + "\n")
    with pytest.raises(config.ConfigError, match="data.num_shards=8: shard 1 of data.path"):
        ShardedBatches(_local(tmp_path), BYTES, 1, 2).step_sequences()


def test_hf_shards_read_only_their_files(tmp_path):
    for f in range(4):
        rows = "".join(json.dumps({"text": f"file {f} doc {i}"}) + "\n" for i in range(30))
        (tmp_path / f"part-{f}.jsonl").write_text(rows)
    cfg = config.build("tiny", {"data": {"source": "hf", "path": str(tmp_path)}}).data
    seen = {}
    for k in range(8):  # 8 shards over 4 files: two shards per file, alternate examples
        docs = sources.shard_documents(cfg, k, 8)
        seen[k] = [next(docs) for _ in range(10)]
        assert {t.split(" doc ")[0] for _, _, t in seen[k]} == {f"file {k % 4}"}
    texts = [t for k in seen for _, _, t in seen[k]]
    assert len(set(texts)) == len(texts)
    cursor = seen[5][6][0]  # seeking to a cursor gives the same documents
    assert list(zip(range(4), sources.shard_documents(cfg, 5, 8, cursor))) == list(
        enumerate(seen[5][6:])
    )


# ------------------------------------------------------------------ hf streaming: resume by state
# What `datasets` reads is counted at the JSON builder's table generator (datasets 5.2.0
# packaged_modules/json/json.py `Json._generate_tables`, one call per file shard iterated). Its
# call with allow_full_read=False is the schema probe of `load_dataset` (`_split_generators`: the
# first block of the dataset's first file), not iteration, and is kept apart.


def _hf_files(path, files: int, docs: int) -> None:
    rng = random.Random(2)
    for f in range(files):
        words = (" ".join(rng.choice(["ab", "cde", "f"]) for _ in range(12)) for _ in range(docs))
        rows = (json.dumps({"text": f"file {f} doc {i}: {w}"}) for i, w in enumerate(words))
        (path / f"part-{f}.jsonl").write_text("\n".join(rows) + "\n")


@pytest.fixture
def no_load_count(monkeypatch):
    """No download-count HEAD request per `load_dataset` (datasets 5.2.0 load.py
    `increase_load_count`), which this offline machine answers only after a DNS timeout."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_UPDATE_DOWNLOAD_COUNTS", False)


@pytest.fixture
def hf_reads(monkeypatch, no_load_count):
    from datasets.packaged_modules.json import json as hf_json

    log = {"files": [], "rows": 0, "probes": 0}
    real = hf_json.Json._generate_tables

    def generate_tables(self, base_files, files_iterables, original_files, allow_full_read=True):
        if not allow_full_read:
            log["probes"] += 1
            yield from real(self, base_files, files_iterables, original_files, allow_full_read)
            return
        log["files"] += [f.rsplit("/", 1)[-1] for f in base_files]
        for key, table in real(self, base_files, files_iterables, original_files):
            log["rows"] += len(table)
            yield key, table

    monkeypatch.setattr(hf_json.Json, "_generate_tables", generate_tables)
    return log


def _file_of(text: str) -> str:
    return f"part-{text.split(' ')[1]}.jsonl"


def test_an_hf_resume_opens_only_its_file_shard_and_continues_exactly(tmp_path, hf_reads):
    _hf_files(tmp_path, files=4, docs=40)
    cfg = config.build(
        "tiny",
        {"global_batch_size": 2, "micro_batch_size": 1, "data.num_shards": 2,
         "data": {"source": "hf", "path": str(tmp_path)}},
    )  # fmt: skip  # shard 0: part-0, part-1; shard 1: part-2, part-3
    whole = ShardedBatches(cfg, BYTES, 0, 1)
    expected = [[s.tobytes() for s in whole.step_sequences()] for _ in range(48)][42:]
    old = _run(cfg, 0, 1, steps=42)
    state = json.loads(json.dumps(old.state([old.local_state()])))  # as trainer_state.json
    counts = [c["n"] if isinstance(c, dict) else c for c, _ in state["shards"].values()]
    assert min(counts) > 40  # each shard is in its group's second file
    hf_reads.update(files=[], rows=0)
    new = ShardedBatches(cfg, BYTES, 0, 1, state)
    got = [[s.tobytes() for s in new.step_sequences()] for _ in range(6)]
    assert got == expected  # (a) the same sequences as without the interruption
    print(f"resume at examples {counts} read {hf_reads['rows']} rows of {hf_reads['files']}")
    assert hf_reads["files"] == ["part-1.jsonl", "part-3.jsonl"]  # (b) no file before its own
    assert hf_reads["rows"] <= 80 < sum(counts)  # at most its file shard, not all before it


@pytest.mark.parametrize("shards, k", [(1, 0), (2, 0), (6, 1)], ids=["1of1", "0of2", "1of6"])
def test_an_hf_resume_at_any_document_and_across_passes_is_exact(tmp_path, hf_reads, shards, k):
    _hf_files(tmp_path, files=3, docs=5)  # 6 shards: 3 groups of one file, every 2nd example
    cfg = config.build("tiny", {"data": {"source": "hf", "path": str(tmp_path)}}).data
    per_pass = {1: 15, 2: 10, 6: 3}[shards]
    whole = list(itertools.islice(sources.shard_documents(cfg, k, shards), 4 * per_pass))
    for _, after, _ in whole:
        assert json.loads(json.dumps(after)) == after  # a checkpoint keeps it as it is
    for j, (cursor, _, text) in enumerate(whole[:-4]):
        hf_reads.update(files=[], rows=0)
        docs = sources.shard_documents(cfg, k, shards, json.loads(json.dumps(cursor)))
        assert next(docs) == whole[j]  # from its document on, with the same cursors ...
        previous = _file_of(whole[j - 1][2]) if j else _file_of(text)
        assert hf_reads["files"][0] == previous, j  # ... opening the previous one's file first
        assert set(hf_reads["files"]) <= {previous, _file_of(text)}, j  # and nothing else,
        assert hf_reads["rows"] <= 2 * 5, j  # not the passes before (a replay's 5 per pass)
        assert list(itertools.islice(docs, 3)) == whole[j + 1 : j + 4], j  # over pass ends too
    assert hf_reads["probes"] >= 1


def test_an_integer_hf_cursor_of_an_earlier_checkpoint_is_replayed(tmp_path, no_load_count):
    _hf_files(tmp_path, files=3, docs=5)
    cfg = config.build("tiny", {"data": {"source": "hf", "path": str(tmp_path)}}).data
    whole = list(itertools.islice(sources.shard_documents(cfg, 0, 2), 25))
    for old in (0, 3, 12):  # examples of the shard before the position, as earlier trainers kept
        docs = list(itertools.islice(sources.shard_documents(cfg, 0, 2, old), 4))
        assert docs[0][0] == old  # batches.py finds the token offset of the position's document
        assert [t for *_, t in docs] == [t for _, a, t in whole if a["n"] > old][:4]
