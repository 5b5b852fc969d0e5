"""Packing documents into fixed-length sequences, dealt to ranks so that any world size sees the
same global batches, and a data position that a checkpoint can carry to another world size.

The training data is split into S shards (trainer/sources.py `shard_documents`: by document
index for synthetic data, by byte range for files and S3 objects, by file shard for Hugging Face
datasets); each shard packs its documents (each followed by EOS) into one token stream that is
cut into sequences of seq_len + 1 tokens. Sequence g (0 <= g < global batch B) of every step comes
from shard g % S, and rank r takes the sequences g = r, r + W, r + 2W, ... Because W divides S,
rank r owns exactly the shards k with k % W == r, and reads only those: no rank reads another's
data. A shard's position is (cursor, token offset): the cursor is where, in the shard's own
terms, the current document starts (a byte offset for files), so a resume seeks there instead of
reading what came before, and it does not depend on W: a checkpoint written by 2 ranks resumes
on 1, 4 or 8.

Fine-tuning data (data.format prompt_response or chat) is dealt the same way, but a shard packs
whole examples into each sequence (trainer/example_packing.py), and a sequence carries a second
row, the labels: the tokens the loss is on, IGNORE_INDEX on prompt tokens and padding. Its
micro-batches are [micro_batch, 2, seq_len + 1]; the position is the next example's cursor, and
the labels follow from the examples, so a resume reproduces both.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

from . import example_packing, sources
from .config_sections import ConfigError
from .finetune_examples import ExampleEncoder
from .loss_elementwise import IGNORE_INDEX
from .train_config import TrainConfig

# Changes when the same position would name other documents (v2: per-shard byte ranges).
DATA_ORDER = 2
# Fingerprint keys added since, with the value a checkpoint without them was written with.
_ADDED_KEYS = {"format": "text"}


class _Shard:
    """One shard's token stream; `position` is where its next unread token is."""

    def __init__(self, docs, tokenizer, position: tuple[int | dict, int]):
        self.position = position
        self._source, self._tok = docs, tokenizer  # (cursor, next cursor, text) from the cursor
        self._docs: deque[list] = deque()  # [cursor, next cursor, tokens, offset]
        self.available = 0

    def fill(self, n: int) -> None:
        while self.available < n:
            cursor, after, text = next(self._source)
            tokens = np.append(self._tok.encode(text), self._tok.eos_id)
            off = self.position[1] if cursor == self.position[0] else 0
            self._docs.append([cursor, after, tokens, off])
            self.available += len(tokens) - off

    def take(self, n: int) -> np.ndarray:
        self.fill(n)
        out, need = [], n
        while need:
            cursor, after, tokens, off = self._docs[0]
            t = min(need, len(tokens) - off)
            out.append(tokens[off : off + t])
            off += t
            need -= t
            if off == len(tokens):
                self._docs.popleft()
                self.position = (after, 0)
            else:
                self._docs[0][3] = off
                self.position = (cursor, off)
        self.available -= n
        return np.concatenate(out)


class ShardedBatches:
    """This rank's micro-batches of one step: tensors [micro_batch, seq_len + 1]."""

    def __init__(
        self, cfg: TrainConfig, tokenizer, rank: int, world: int, state: dict | None = None
    ):
        self.cfg, self.tok, self.rank, self.world = cfg, tokenizer, rank, world
        self.S = cfg.num_shards
        self.seq = cfg.seq_len + 1
        positions = {k: (0, 0) for k in range(rank, self.S, world)}
        if state is not None:
            self._check_state(state)
            for k in positions:
                positions[k] = tuple(state["shards"][str(k)])
        # Each owned shard reads only its own data, from its position on.
        docs = {k: sources.shard_documents(cfg.data, k, self.S, p[0]) for k, p in positions.items()}
        if cfg.data.format == "text":
            self.shards = {k: _Shard(docs[k], tokenizer, p) for k, p in positions.items()}
        else:
            encoder = ExampleEncoder(cfg.data, tokenizer)
            self.shards = {
                k: example_packing.ExampleShard(docs[k], encoder, p, tokenizer.eos_id)
                for k, p in positions.items()
            }

    def fingerprint(self) -> dict:
        d = self.cfg.data
        return {
            "source": d.source,
            "path": d.path,
            "name": d.name,
            "split": d.split,
            "tokenizer": self.tok.name,
            "val_holdout": d.val_holdout,
            "num_shards": self.S,
            "order": DATA_ORDER,
            "format": d.format,
        }

    def _check_state(self, state: dict) -> None:
        mine, theirs = self.fingerprint(), state.get("fingerprint", {})
        if theirs.get("order") != DATA_ORDER:
            raise ConfigError(
                [
                    f"checkpoint.dir={self.cfg.checkpoint.dir}: its data position is of an "
                    "earlier trainer's data order, which this one cannot seek to; resume it with "
                    "that trainer, or start in an empty checkpoint.dir"
                ]
            )
        issues = [
            f"data.{k}{' (global batch)' if k == 'num_shards' else ''}: differs from the "
            f"checkpoint's data ({theirs.get(k)!r}); a resume must read the same data in "
            "the same order"
            for k in mine
            if theirs.get(k, _ADDED_KEYS.get(k)) != mine[k]
        ]
        if issues:
            raise ConfigError(issues)

    def step_sequences(self) -> list[np.ndarray]:
        """This rank's sequences of the next global step, in global order."""
        out = []
        for g in range(self.rank, self.cfg.global_batch_size, self.world):
            out.append(self.shards[g % self.S].take(self.seq))
        return out

    def next_step(self) -> list[torch.Tensor]:
        seqs = self.step_sequences()
        m = self.cfg.micro_batch_size
        return [torch.from_numpy(np.stack(seqs[i : i + m])) for i in range(0, len(seqs), m)]

    def local_state(self) -> dict[str, list]:  # [cursor (JSON: an int, or hf's dict), offset]
        return {str(k): list(s.position) for k, s in self.shards.items()}

    def state(self, all_local_states: list[dict]) -> dict:
        """The full position from every rank's `local_state()` (gathered by the caller)."""
        merged = {}
        for part in all_local_states:
            merged.update(part)
        return {"fingerprint": self.fingerprint(), "shards": merged}


def _text_validation(cfg: TrainConfig, tokenizer) -> np.ndarray:
    need = cfg.metrics.val_sequences * (cfg.seq_len + 1)
    buf, have = [], 0
    for text in sources.val_documents(cfg.data):
        ids = np.append(tokenizer.encode(text), tokenizer.eos_id)
        buf.append(ids)
        have += len(ids)
        if have >= need:
            break
    return np.concatenate(buf)[:need].reshape(cfg.metrics.val_sequences, cfg.seq_len + 1)


def validation_set(cfg: TrainConfig, tokenizer, rank: int, world: int) -> list[torch.Tensor]:
    """The same held-out sequences on every run; rank r evaluates sequences r, r + W, ..."""
    if cfg.data.format == "text":
        seqs = _text_validation(cfg, tokenizer)
    else:
        seqs = example_packing.sequences(
            sources.val_documents(cfg.data),
            ExampleEncoder(cfg.data, tokenizer),
            cfg.metrics.val_sequences,
            cfg.seq_len + 1,
            tokenizer.eos_id,
        )
    mine = seqs[rank::world]
    m = cfg.micro_batch_size
    return [torch.from_numpy(mine[i : i + m]) for i in range(0, len(mine), m)]


def split(batch: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) of a micro-batch: text [B, seq_len + 1] is its own targets, shifted;
    fine-tuning data [B, 2, seq_len + 1] takes them from its labels row."""
    batch = batch.to(device, non_blocking=True)
    if batch.ndim == 3:
        return batch[:, 0, :-1], batch[:, 1, 1:]
    return batch[:, :-1], batch[:, 1:]


def global_targets(targets: list[torch.Tensor]) -> torch.Tensor:
    """How many of a step's targets (this rank's, of every micro-batch) the loss is on, summed
    over all ranks: on the device (no host read), and at least 1, so that a step whose targets
    are all masked divides its zero loss by 1."""
    n = torch.zeros((), dtype=torch.float64, device=targets[0].device)
    for t in targets:
        n += (t != IGNORE_INDEX).sum()
    torch.distributed.all_reduce(n)
    return n.clamp(min=1)


def check_vocab(cfg: TrainConfig, tokenizer) -> None:
    if tokenizer.vocab_size > cfg.model.vocab_size:
        raise ConfigError(
            [
                f"model.vocab_size={cfg.model.vocab_size}: smaller than the "
                f"{tokenizer.vocab_size} tokens of data.tokenizer={tokenizer.name}"
            ]
        )
