"""Data at scale: each rank reads only its own shards, and a resume seeks instead of replaying.
The reads are counted where they happen: the bytes pulled from files (sources._chunks) and the
synthetic documents generated (sources.synthetic_document)."""

from __future__ import annotations

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
