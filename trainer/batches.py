"""Packing documents into fixed-length sequences, dealt to ranks so that any world size sees the
same global batches, and a data position that a checkpoint can carry to another world size.

The training documents, in source order d = 0, 1, 2, ..., are dealt round-robin into S shards
(shard d % S); each shard packs its documents (each followed by EOS) into one token stream that is
cut into sequences of seq_len + 1 tokens. Sequence g (0 <= g < global batch B) of every step comes
from shard g % S, and rank r takes the sequences g = r, r + W, r + 2W, ... Because W divides S,
rank r owns exactly the shards k with k % W == r: it tokenizes only those, and no two ranks ever
hold the same sequence. A shard's position is (its document number j, token offset), which does
not depend on W, so a checkpoint written by 2 ranks resumes on 1, 4 or 8.
"""

from __future__ import annotations

import itertools
from collections import deque

import numpy as np
import torch

from . import sources
from .config_sections import ConfigError
from .train_config import TrainConfig


class _Shard:
    """One shard's token stream; `position` is where its next unread token is."""

    def __init__(self, position: tuple[int, int]):
        self.position = position
        self._docs: deque[list] = deque()  # [doc number j, tokens, offset]
        self.available = 0

    def add(self, j: int, tokens: np.ndarray) -> None:
        if j < self.position[0]:
            return  # before the restored position
        off = self.position[1] if j == self.position[0] else 0
        self._docs.append([j, tokens, off])
        self.available += len(tokens) - off

    def take(self, n: int) -> np.ndarray:
        out, need = [], n
        while need:
            j, tokens, off = self._docs[0]
            t = min(need, len(tokens) - off)
            out.append(tokens[off : off + t])
            off += t
            need -= t
            if off == len(tokens):
                self._docs.popleft()
                self.position = (j + 1, 0)
            else:
                self._docs[0][2] = off
                self.position = (j, off)
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
        self.shards = {k: _Shard(p) for k, p in positions.items()}
        # Skip (without tokenizing) the documents every owned shard has already consumed.
        first = min(k + j * self.S for k, (j, _) in positions.items())
        self._docs = itertools.islice(sources.train_documents(cfg.data), first, None)
        self._next_doc = first

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
        }

    def _check_state(self, state: dict) -> None:
        mine, theirs = self.fingerprint(), state.get("fingerprint", {})
        issues = [
            f"data.{k}{' (global batch)' if k == 'num_shards' else ''}: differs from the "
            f"checkpoint's data ({theirs.get(k)!r}); a resume must read the same data in "
            "the same order"
            for k in mine
            if theirs.get(k) != mine[k]
        ]
        if issues:
            raise ConfigError(issues)

    def _fill(self, k: int) -> None:
        shard = self.shards[k]
        while shard.available < self.seq:
            text = next(self._docs)
            d, self._next_doc = self._next_doc, self._next_doc + 1
            owner = self.shards.get(d % self.S)
            if owner is not None:
                owner.add(d // self.S, np.append(self.tok.encode(text), self.tok.eos_id))

    def step_sequences(self) -> list[np.ndarray]:
        """This rank's sequences of the next global step, in global order."""
        out = []
        for g in range(self.rank, self.cfg.global_batch_size, self.world):
            k = g % self.S
            self._fill(k)
            out.append(self.shards[k].take(self.seq))
        return out

    def next_step(self) -> list[torch.Tensor]:
        seqs = self.step_sequences()
        m = self.cfg.micro_batch_size
        return [torch.from_numpy(np.stack(seqs[i : i + m])) for i in range(0, len(seqs), m)]

    def local_state(self) -> dict[str, list[int]]:
        return {str(k): list(s.position) for k, s in self.shards.items()}

    def state(self, all_local_states: list[dict]) -> dict:
        """The full position from every rank's `local_state()` (gathered by the caller)."""
        merged = {}
        for part in all_local_states:
            merged.update(part)
        return {"fingerprint": self.fingerprint(), "shards": merged}


def validation_set(cfg: TrainConfig, tokenizer, rank: int, world: int) -> list[torch.Tensor]:
    """The same held-out sequences on every run; rank r evaluates sequences r, r + W, ..."""
    need = cfg.metrics.val_sequences * (cfg.seq_len + 1)
    buf, have = [], 0
    for text in sources.val_documents(cfg.data):
        ids = np.append(tokenizer.encode(text), tokenizer.eos_id)
        buf.append(ids)
        have += len(ids)
        if have >= need:
            break
    seqs = np.concatenate(buf)[:need].reshape(cfg.metrics.val_sequences, cfg.seq_len + 1)
    mine = seqs[rank::world]
    m = cfg.micro_batch_size
    return [torch.from_numpy(mine[i : i + m]) for i in range(0, len(mine), m)]


def split(batch: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    batch = batch.to(device, non_blocking=True)
    return batch[:, :-1], batch[:, 1:]


def check_vocab(cfg: TrainConfig, tokenizer) -> None:
    if tokenizer.vocab_size > cfg.model.vocab_size:
        raise ConfigError(
            [
                f"model.vocab_size={cfg.model.vocab_size}: smaller than the "
                f"{tokenizer.vocab_size} tokens of data.tokenizer={tokenizer.name}"
            ]
        )
