"""Data: sources, tokenizers, packing, the rank split and a position that survives a resize."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from trainer import config, sources, tokenizer
from trainer.batches import ShardedBatches, check_vocab, validation_set

BYTES = tokenizer.ByteTokenizer()


def steps(data: ShardedBatches, n: int) -> list[list[np.ndarray]]:
    return [data.step_sequences() for _ in range(n)]


def as_set(seqs) -> set[bytes]:
    return {s.tobytes() for s in seqs}


@pytest.mark.parametrize("world", [2, 4, 8])
def test_ranks_get_disjoint_parts_of_the_same_global_batch(world):
    cfg = config.build("tiny", {"global_batch_size": 8, "micro_batch_size": 1})
    single = steps(ShardedBatches(cfg, BYTES, 0, 1), 3)
    ranks = [steps(ShardedBatches(cfg, BYTES, r, world), 3) for r in range(world)]
    for step in range(3):
        parts = [as_set(ranks[r][step]) for r in range(world)]
        for a, b in itertools.combinations(parts, 2):
            assert not a & b  # no sequence on two ranks
        assert set().union(*parts) == as_set(single[step])
        assert all(len(p) == 8 // world for p in parts)
    # Each rank tokenizes only its own shards.
    assert sorted(ShardedBatches(cfg, BYTES, 1, world).shards) == list(range(1, 8, world))


def test_sequences_are_packed_documents_with_eos():
    cfg = config.build("tiny")
    seq = ShardedBatches(cfg, BYTES, 0, 1).step_sequences()[0]
    assert seq.shape == (cfg.seq_len + 1,)
    text = bytes(int(t) for t in seq if t < 256).decode()
    assert text.startswith(sources.synthetic_document(0)[:20]) or BYTES.eos_id in seq


def _hf_corpus(path, monkeypatch) -> str:
    """4 JSON-lines files: 8 shards are 4 groups of one file, each taking every 2nd example, and
    loop over their 6 examples more than once in the steps below."""
    import datasets

    # No download-count request per load (datasets 5.2.0 load.py increase_load_count): offline.
    monkeypatch.setattr(datasets.config, "HF_UPDATE_DOWNLOAD_COUNTS", False)
    for f in range(4):
        docs = (f"file {f} doc {i}: " + "the lazy dog sleeps. " * (i % 4 + 1) for i in range(12))
        (path / f"part-{f}.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    return str(path)


@pytest.mark.parametrize("source", ["synthetic", "hf"])
@pytest.mark.parametrize("before, after", [(1, 2), (2, 1), (2, 4), (4, 2)])
def test_position_resumes_exactly_on_another_world_size(
    before, after, source, tmp_path, monkeypatch
):
    data = {"source": "hf", "path": _hf_corpus(tmp_path, monkeypatch)} if source == "hf" else {}
    cfg = config.build("tiny", {"global_batch_size": 8, "micro_batch_size": 1, "data": data})
    reference = ShardedBatches(cfg, BYTES, 0, 1)
    expected = steps(reference, 5)[3:]
    old = [ShardedBatches(cfg, BYTES, r, before) for r in range(before)]
    for data in old:
        steps(data, 3)
    state = json.loads(json.dumps(old[0].state([d.local_state() for d in old])))  # as saved
    new = [ShardedBatches(cfg, BYTES, r, after, state=state) for r in range(after)]
    got = [steps(d, 2) for d in new]
    for step in range(2):
        assert set().union(*(as_set(got[r][step]) for r in range(after))) == as_set(expected[step])


def test_position_of_other_data_is_refused():
    cfg = config.build("tiny")
    data = ShardedBatches(cfg, BYTES, 0, 1)
    state = data.state([data.local_state()])
    other = config.build("tiny", {"data": {"val_holdout": 7}})
    with pytest.raises(config.ConfigError, match="data.val_holdout: differs from the checkpoint"):
        ShardedBatches(other, BYTES, 0, 1, state=state)


def test_validation_documents_never_reach_training():
    cfg = config.build("tiny").data
    val = set(itertools.islice(sources.val_documents(cfg), 20))
    train = set(itertools.islice(sources.train_documents(cfg), 3000))
    assert len(val) == 20 and not val & train


def test_a_file_with_no_held_out_document_is_a_config_error_not_a_hang(tmp_path):
    """Validation takes the documents whose hash picks them, about 1 in data.val_holdout: a small
    file may have none, and the endless passes over it looked for one for ever."""
    docs = [f"doc {i}" for i in range(2000)]
    held = [d for d in docs if sources.is_heldout(d, 100)]
    assert held
    path = tmp_path / "small.txt"
    path.write_text("\n\n".join(d for d in docs if d not in held) + "\n")  # paragraphs
    cfg = config.build("tiny", {"data": {"source": "local", "path": str(path)}})
    with pytest.raises(config.ConfigError, match=r"data.val_holdout=100: no document of"):
        validation_set(cfg, BYTES, 0, 1)
    # The other way round: a file of held-out documents only has nothing to train on.
    path.write_text("\n\n".join(held) + "\n")
    with pytest.raises(config.ConfigError, match=r"data.val_holdout=100: every document of"):
        next(sources.train_documents(cfg.data))


def test_validation_set_is_split_across_ranks():
    cfg = config.build("tiny", {"metrics": {"val_sequences": 8}})
    one = np.concatenate([b.numpy() for b in validation_set(cfg, BYTES, 0, 1)])
    two = [np.concatenate([b.numpy() for b in validation_set(cfg, BYTES, r, 2)]) for r in (0, 1)]
    assert as_set(one) == as_set(two[0]) | as_set(two[1]) and not as_set(two[0]) & as_set(two[1])


@pytest.fixture
def corpus(tmp_path):
    docs = [
        (f"Document {i}: " + "the quick brown fox jumps over the lazy dog. " * (i % 5 + 1)).strip()
        for i in range(40)
    ]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in docs[:20]))
    (tmp_path / "b.txt").write_text("\n\n".join(docs[20:]))
    return tmp_path, docs


def test_local_files_in_order_and_looping(corpus):
    path, docs = corpus
    cfg = config.build("tiny", {"data": {"source": "local", "path": str(path)}}).data
    got = list(itertools.islice(sources.raw_documents(cfg), 80))
    assert got == docs + docs  # a.jsonl, then b.txt's paragraphs, then again


def test_hf_streaming_reads_the_same_documents(corpus):
    path, docs = corpus
    jsonl = str(path / "a.jsonl")
    cfg = config.build("tiny", {"data": {"source": "hf", "path": jsonl}}).data
    assert list(itertools.islice(sources.raw_documents(cfg), 25)) == docs[:20] + docs[:5]
    bad = config.build("tiny", {"data": {"source": "hf", "path": jsonl, "text_field": "body"}})
    with pytest.raises(config.ConfigError, match="data.text_field=body: not a column"):
        next(sources.raw_documents(bad.data))


def test_local_source_errors_name_the_key(tmp_path):
    cfg = config.build("tiny", {"data": {"source": "local", "path": str(tmp_path / "none")}})
    with pytest.raises(config.ConfigError, match="data.path=.*no .txt or .jsonl files"):
        next(sources.raw_documents(cfg.data))


def test_tokenizer_json(tmp_path_factory, corpus):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    path, docs = corpus
    tmp_path = tmp_path_factory.mktemp("tok")  # outside the data directory, read whole
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        docs, trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<|end_of_text|>"])
    )
    tok.save(str(tmp_path / "tokenizer.json"))
    loaded = tokenizer.load(str(tmp_path / "tokenizer.json"))
    assert loaded.eos_id == tok.token_to_id("<|end_of_text|>")
    ids = loaded.encode(docs[3])
    assert len(ids) < len(docs[3]) and loaded.decode(ids).strip() == docs[3]
    cfg = config.build(
        "tiny",
        {
            "data": {
                "source": "local",
                "path": str(path),
                "tokenizer": str(tmp_path / "tokenizer.json"),
            }
        },
    )
    check_vocab(cfg, loaded)
    seqs = ShardedBatches(cfg, loaded, 0, 1).step_sequences()
    assert all(s.max() < loaded.vocab_size for s in seqs)
    small = config.build("tiny", {"model": {"vocab_size": 64}})
    with pytest.raises(config.ConfigError, match="model.vocab_size=64: smaller than"):
        check_vocab(small, loaded)
    with pytest.raises(config.ConfigError, match="data.tokenizer=.*cannot load"):
        tokenizer.load(str(path / "a.jsonl"))
