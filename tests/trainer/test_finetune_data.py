"""Fine-tuning data (data.format prompt_response and chat): the loss is on the response (the
assistant turns) only, the chat template renders as transformers renders it, a bad line is named
by file and line, and a resume mid-epoch reads the same batches and masks."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from torch.distributed.device_mesh import init_device_mesh
from trainer_support import one_rank_gloo

from trainer import config, tokenizer, train
from trainer.batches import ShardedBatches, split, validation_set
from trainer.chat_template import ChatTemplate
from trainer.config_sections import ConfigError
from trainer.distributed import Dist
from trainer.finetune_examples import Example, ExampleEncoder
from trainer.loss_elementwise import IGNORE_INDEX
from trainer.model import Transformer

BYTES = tokenizer.ByteTokenizer()
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>"]
SPECIALS.append("<|eot_id|>")
# Llama 3's layout of a conversation, written for these tests. The tagged twin marks the
# assistant's text with {% generation %}, which transformers needs for its assistant mask.
_TURN = "{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' }}"
_TEXT = "{{ m['content'] | trim + '<|eot_id|>' }}"
_PROMPT = (
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
)
TEMPLATE = "{{- bos_token }}{% for m in messages %}" + _TURN + _TEXT + "{% endfor %}"
TEMPLATE += _PROMPT + "{% endif %}"
TAGGED = "{{- bos_token }}{% for m in messages %}" + _TURN
TAGGED += "{% if m['role'] == 'assistant' %}{% generation %}" + _TEXT + "{% endgeneration %}"
TAGGED += "{% else %}" + _TEXT + "{% endif %}{% endfor %}" + _PROMPT + "{% endif %}"
CHAT = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "What is two plus two?"},
    {"role": "assistant", "content": "Four."},
    {"role": "user", "content": "And three plus three?"},
    {"role": "assistant", "content": "Six, my friend.", "tool_calls": None},
]


def _write_tokenizer(folder, template: str | None) -> str:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [json.dumps(CHAT), "system user assistant what is two plus four six friend"] * 4
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    tok.train_from_iterator(
        corpus,
        trainers.BpeTrainer(vocab_size=330, special_tokens=SPECIALS, initial_alphabet=alphabet),
    )
    bos = ("<|begin_of_text|>", tok.token_to_id("<|begin_of_text|>"))
    tok.post_processor = processors.TemplateProcessing(single=f"{bos[0]} $A", special_tokens=[bos])
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    eos = {"__type": "AddedToken", "content": "<|eot_id|>", "lstrip": False, "rstrip": False}
    eos |= {"normalized": False, "single_word": False, "special": True}
    settings = {"bos_token": "<|begin_of_text|>", "eos_token": eos}
    settings["tokenizer_class"] = "PreTrainedTokenizerFast"
    if template is not None:
        settings["chat_template"] = template
    (folder / "tokenizer_config.json").write_text(json.dumps(settings))
    return str(folder / "tokenizer.json")


@pytest.fixture(scope="module")
def chat_tok(tmp_path_factory) -> str:
    return _write_tokenizer(tmp_path_factory.mktemp("chat"), TEMPLATE)


def _cfg(path, fmt: str, **over) -> config.TrainConfig:
    data = {"source": "local", "path": str(path), "format": fmt, "val_holdout": 5}
    data |= over.pop("data", {})
    base = {"seq_len": 48, "global_batch_size": 4, "micro_batch_size": 2, "data": data}
    return config.build("tiny", base | over)


def _pairs(n: int) -> list[dict]:
    return [{"prompt": f"Q{i}: {i} + {i}?", "response": f" {2 * i}."} for i in range(n)]


def _jsonl(path, records) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _example(fields: dict) -> Example:
    return Example(fields, lambda: "here")


def test_prompt_response_trains_the_response_and_eos_only(tmp_path):
    _jsonl(tmp_path / "a.jsonl", _pairs(40))
    cfg = _cfg(tmp_path, "prompt_response")
    enc = ExampleEncoder(cfg.data, BYTES)
    ids, labels = enc.encode(_example({"prompt": "Q: hi?", "response": " yes"}))
    # BOS and the prompt's bytes are not trained; the response's bytes and EOS are.
    assert ids.tolist() == [BYTES.bos_id, *b"Q: hi? yes", BYTES.eos_id]
    assert labels.tolist() == [IGNORE_INDEX] * 7 + [*b" yes", BYTES.eos_id]

    data = ShardedBatches(cfg, BYTES, 0, 1)
    responses = {p["response"].encode() for p in _pairs(40)}
    for seq in [s for _ in range(6) for s in data.step_sequences()]:
        tokens, labels = seq
        assert seq.shape == (2, cfg.seq_len + 1)
        trained = labels != IGNORE_INDEX
        assert np.array_equal(labels[trained], tokens[trained])  # a label is its own token
        # Whole examples, each BOS-led, then padding: the trained runs are whole responses + EOS.
        starts = np.flatnonzero(tokens == BYTES.bos_id)
        assert starts[0] == 0
        for a, b in zip(starts, [*starts[1:], len(tokens)]):
            run = labels[a:b][labels[a:b] != IGNORE_INDEX]
            assert run[-1] == BYTES.eos_id and run[:-1].astype(np.uint8).tobytes() in responses
        inputs, targets = split(torch.from_numpy(seq[None]), torch.device("cpu"))
        assert torch.equal(inputs[0], torch.from_numpy(tokens[:-1]))
        assert torch.equal(targets[0], torch.from_numpy(labels[1:]))


def test_an_example_longer_than_a_sequence_is_cut(tmp_path):
    long = {"prompt": "P" * 10, "response": "R" * 100}
    _jsonl(tmp_path / "a.jsonl", [long] * 8)
    cfg = _cfg(tmp_path, "prompt_response", data={"val_holdout": 1000})
    tokens, labels = ShardedBatches(cfg, BYTES, 0, 1).step_sequences()[0]
    assert tokens.tolist() == [BYTES.bos_id, *b"P" * 10, *b"R" * 38]
    assert labels.tolist() == [IGNORE_INDEX] * 11 + [*b"R" * 38]


def _trained_text(tok, ids, labels) -> list[str]:
    """The runs of trained tokens of a sequence, decoded."""
    runs = itertools.groupby(zip(ids.tolist(), labels != IGNORE_INDEX), key=lambda p: p[1])
    return [tok.decode([t for t, _ in run]) for trained, run in runs if trained]


def test_chat_trains_the_assistant_turns_and_their_end(chat_tok, tmp_path):
    _jsonl(tmp_path / "a.jsonl", [{"messages": CHAT}] * 6)
    cfg = _cfg(tmp_path, "chat", seq_len=96, data={"tokenizer": chat_tok, "val_holdout": 1000})
    tok = tokenizer.load(chat_tok)
    ids, labels = ExampleEncoder(cfg.data, tok).encode(_example({"messages": CHAT}))
    assert tok._tok.decode(ids.tolist(), skip_special_tokens=False).startswith(
        "<|begin_of_text|><|start_header_id|>system"
    )
    # The decoder drops special tokens: the trained runs are the replies (their <|eot_id|> too).
    assert _trained_text(tok, ids, labels) == ["Four.", "Six, my friend."]
    eot = tok._tok.token_to_id("<|eot_id|>")
    assert [int(t) for t in labels if t == eot] == [eot, eot]  # the replies' ends, not the users'
    seq = ShardedBatches(cfg, tok, 0, 1).step_sequences()[0]
    assert np.array_equal(seq[0, : len(ids)], ids) and np.array_equal(seq[1, : len(ids)], labels)


def test_chat_renders_and_masks_as_transformers_does(chat_tok, tmp_path):
    """transformers 5.23.0's own apply_chat_template on the same tokenizer files: the same text
    and tokens; and its assistant mask (from {% generation %} blocks) is the trained tokens of
    both ways this trainer finds the turns (the blocks, or renderings of the beginnings)."""
    from transformers import AutoTokenizer

    tagged_tok = _write_tokenizer(tmp_path / "tagged", TAGGED)
    hf = AutoTokenizer.from_pretrained(str(tmp_path / "tagged"))
    got = hf.apply_chat_template(
        CHAT, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    for path in (chat_tok, tagged_tok):
        cfg = _cfg(tmp_path, "chat", data={"tokenizer": path})
        encoder = ExampleEncoder(cfg.data, tokenizer.load(path))
        ids, labels = encoder.encode(_example({"messages": CHAT}))
        assert encoder.template.text(CHAT) == hf.apply_chat_template(CHAT, tokenize=False)
        assert ids.tolist() == list(got["input_ids"])
        assert (labels != IGNORE_INDEX).astype(int).tolist() == list(got["assistant_masks"])
    prompt = hf.apply_chat_template(CHAT[:2], tokenize=False, add_generation_prompt=True)
    assert ChatTemplate.beside(tagged_tok).text(CHAT[:2], add_generation_prompt=True) == prompt


def test_chat_data_without_a_template_names_the_key(tmp_path):
    bare = _write_tokenizer(tmp_path / "bare", None)
    _jsonl(tmp_path / "a.jsonl", [{"messages": CHAT}] * 4)
    with pytest.raises(ConfigError, match="no `chat_template` key in .*tokenizer_config.json"):
        ShardedBatches(_cfg(tmp_path, "chat", data={"tokenizer": bare}), BYTES, 0, 1)
    with pytest.raises(ConfigError, match="data.format=chat: needs data.tokenizer"):
        ShardedBatches(_cfg(tmp_path, "chat"), BYTES, 0, 1)
    with pytest.raises(ConfigError, match="data.format=chat: needs data.source=local or hf"):
        config.build("tiny", {"data": {"format": "chat"}})


def _good(fmt: str, i: int) -> dict:
    if fmt == "chat":
        return {"messages": [*CHAT[:2], {"role": "assistant", "content": f"{i}."}]}
    return _pairs(i + 1)[i] if fmt == "prompt_response" else {"text": f"document {i}"}


@pytest.mark.parametrize(
    ("line", "fmt", "says"),
    [
        ("{not json", "prompt_response", "is not JSON"),
        ('{"prompt": "a"}', "prompt_response", 'needs a string "response"'),
        ('{"messages": [{"role": "user", "content": "x"}]}', "chat", 'no "assistant" message'),
        ('{"prompt": "a", "response": "b"}', "text", "looks like .* data.format=prompt_response"),
    ],
)
def test_a_bad_line_is_named_by_file_and_line(chat_tok, tmp_path, line, fmt, says):
    good = [json.dumps(_good(fmt, i)) for i in range(30)]
    (tmp_path / "a.jsonl").write_text("\n".join([*good[:20], line, *good[20:]]) + "\n")
    tok = tokenizer.load(chat_tok) if fmt == "chat" else BYTES
    cfg = _cfg(tmp_path, fmt, data={"val_holdout": 1000, "tokenizer": chat_tok})
    data = ShardedBatches(cfg, tok, 0, 2)  # shard 2 of 4 starts mid-file, before line 21
    with pytest.raises(ConfigError, match=f"{tmp_path / 'a.jsonl'} line 21\\b.*{says}"):
        for _ in range(8):
            data.step_sequences()


def _steps(data: ShardedBatches, n: int) -> list[np.ndarray]:
    return [np.stack(data.step_sequences()) for _ in range(n)]


@pytest.mark.parametrize("fmt", ["prompt_response", "chat"])
def test_a_resume_mid_epoch_reads_the_same_batches_and_masks(chat_tok, tmp_path, fmt):
    if fmt == "chat":
        tok, over = tokenizer.load(chat_tok), {"data": {"tokenizer": chat_tok}}
    else:
        tok, over = BYTES, {}
    records = [_good(fmt, i) for i in range(30)]
    _jsonl(tmp_path / "a.jsonl", records[:17])
    _jsonl(tmp_path / "b.jsonl", records[17:])
    cfg = _cfg(tmp_path, fmt, **over)
    whole = _steps(ShardedBatches(cfg, tok, 0, 1), 12)  # past the end of the data: a 2nd epoch
    # Two ranks stop after 5 steps, mid-epoch; the checkpoint (JSON) resumes on one rank.
    ranks = [ShardedBatches(cfg, tok, r, 2) for r in range(2)]
    for _ in range(5):
        for r in ranks:
            r.step_sequences()
    state = json.loads(json.dumps(ranks[0].state([r.local_state() for r in ranks])))
    assert state["fingerprint"]["format"] == fmt
    resumed = _steps(ShardedBatches(cfg, tok, 0, 1, state), 7)
    for a, b in zip(whole[5:], resumed):
        assert np.array_equal(a, b)  # tokens and labels
    assert any((s[:, 1] == IGNORE_INDEX).any() and (s[:, 1] != IGNORE_INDEX).any() for s in whole)
    with pytest.raises(ConfigError, match="data.format: differs from the checkpoint"):
        ShardedBatches(_cfg(tmp_path, "text"), BYTES, 0, 1, state)


@pytest.fixture(scope="module")
def dist1():
    with one_rank_gloo():
        yield Dist(0, 0, 1, torch.device("cpu"), init_device_mesh("cpu", (1,)))


class _KeepGrads:
    """An optimizer for train_step that keeps the gradients instead of stepping."""

    def __init__(self, model):
        self.model, self.grads = model, None

    def step(self):
        self.grads = {n: p.grad.full_tensor().clone() for n, p in self.model.named_parameters()}

    def zero_grad(self, set_to_none=True):
        self.model.zero_grad(set_to_none=set_to_none)


def test_prompt_tokens_contribute_exactly_zero_gradient(dist1, tmp_path):
    _jsonl(tmp_path / "a.jsonl", _pairs(40))
    cfg = _cfg(tmp_path, "prompt_response", optim={"grad_clip": 0})  # gradients as computed
    micro = ShardedBatches(cfg, BYTES, 0, 1).next_step()
    model = train.build_model(cfg, dist1)
    hidden = []
    model.output.register_forward_pre_hook(lambda m, args: hidden.append(args[0]))
    model.output.register_forward_pre_hook(lambda m, args: args[0].retain_grad())
    opt = _KeepGrads(model)
    loss, _ = train.train_step(model, opt, micro, cfg, dist1, step=1)
    # The hidden state at each position whose target is a prompt token (or padding) gets no
    # gradient at all; every response position gets some.
    for h, mb in zip(hidden, micro):
        masked = split(mb, dist1.device)[1] == IGNORE_INDEX
        assert (h.grad[masked] == 0).all() and (h.grad[~masked].abs().sum(-1) > 0).all()

    # The same gradients from a plain cross-entropy where the prompt tokens' targets are other,
    # random tokens, weighted zero: whatever the prompt's targets, they change nothing.
    full = {k: v.full_tensor() for k, v in model.state_dict().items()}
    with torch.device("meta"):
        plain = Transformer(cfg.model, rope_len=cfg.seq_len)
    plain.to_empty(device="cpu")
    plain.init_weights(cfg.seed)  # the rope tables; the weights are the trainer's
    plain.load_state_dict(full)
    gen = torch.Generator().manual_seed(0)
    total, count = 0.0, 0
    for mb in micro:
        inputs, targets = split(mb, dist1.device)
        keep = targets != IGNORE_INDEX
        other = torch.randint(0, 258, targets.shape, generator=gen)
        ce = torch.nn.functional.cross_entropy(
            plain(inputs).flatten(0, 1),
            torch.where(keep, targets, other).flatten(),
            reduction="none",
        )
        total = total + (ce * keep.flatten()).sum()
        count += int(keep.sum())
    (total / count).backward()
    for n, p in plain.named_parameters():
        torch.testing.assert_close(opt.grads[n], p.grad, rtol=1e-4, atol=1e-6)
    # The loss is the mean over the trained tokens, not over every token.
    assert loss == pytest.approx(total.item() / count, rel=1e-5)


def test_a_step_with_every_target_masked_is_zero_not_nan(dist1, tmp_path):
    _jsonl(tmp_path / "a.jsonl", _pairs(40))
    cfg = _cfg(tmp_path, "prompt_response")
    micro = ShardedBatches(cfg, BYTES, 0, 1).next_step()
    for mb in micro:
        mb[:, 1] = IGNORE_INDEX
    model = train.build_model(cfg, dist1)
    opt = _KeepGrads(model)
    assert train.train_step(model, opt, micro, cfg, dist1, step=1) == (0.0, 0.0)
    assert all((g == 0).all() for g in opt.grads.values())
    val = validation_set(cfg, BYTES, 0, 1)
    assert val[0].shape == (cfg.micro_batch_size, 2, cfg.seq_len + 1)
    masked = [v.clone() for v in val]
    for v in masked:
        v[:, 1] = IGNORE_INDEX
    assert train.evaluate(model, masked, cfg, dist1) == 0.0
    assert train.evaluate(model, val, cfg, dist1) > 0
