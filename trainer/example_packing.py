"""Fine-tuning examples packed whole into sequences: a sequence holds as many examples, one after
another, as fit in it, and the rest of it is padding that no loss is on.

A sequence is two rows of `length` (seq_len + 1) tokens: the tokens, and the labels, the tokens
the loss is on with IGNORE_INDEX elsewhere (trainer/finetune_examples.py); trainer/batches.py
`split` makes inputs of the one and targets of the other. Whole examples rather than the text
stream's cut at any token: the second half of an example cut in two would be trained on without
its prompt. The price is the padding after the last example that fits. An example longer than a
sequence is truncated to it, its start kept (the prompt, then as much of the response as fits).

Known approximation: examples packed in one sequence attend to the examples before them in it
(there is no attention mask between examples). Their tokens are not trained to predict across
the boundary (an example's first token is never a target), but an example's hidden states do see
the earlier examples' tokens, which a model generating from this prompt alone would not.

The shard's position is (cursor of the next example not yet in a sequence, 0): every sequence
starts with a fresh example, so a resume that reads from that cursor packs the same sequences.
"""

from __future__ import annotations

import numpy as np

from .loss_elementwise import IGNORE_INDEX


class ExampleShard:
    """One shard's examples as sequences; `position` is where its next sequence starts."""

    def __init__(self, docs, encoder, position: tuple[int | dict, int], pad_id: int):
        self.position = (position[0], 0)
        self._source, self._encoder, self._pad = docs, encoder, pad_id  # (cursor, next, example)
        self._waiting: tuple | None = None  # (next cursor, tokens, labels): read, not yet packed

    def _next_example(self) -> tuple:
        if self._waiting is None:
            _, after, example = next(self._source)
            self._waiting = (after, *self._encoder.encode(example))
        return self._waiting

    def take(self, length: int) -> np.ndarray:
        """The next sequence: [2, length], tokens then labels."""
        out = np.full((2, length), IGNORE_INDEX, dtype=np.int64)
        out[0] = self._pad
        used = 0
        while used < length:
            after, tokens, labels = self._next_example()
            if used and used + len(tokens) > length:
                break  # it starts the next sequence
            n = min(len(tokens), length - used)  # a first example longer than `length`: cut
            out[0, used : used + n] = tokens[:n]
            out[1, used : used + n] = labels[:n]
            used += n
            self._waiting = None
            self.position = (after, 0)
        return out


def sequences(docs, encoder, count: int, length: int, pad_id: int) -> np.ndarray:
    """The first `count` sequences packed from `docs` (examples): [count, 2, length]."""
    shard = ExampleShard(((None, None, d) for d in docs), encoder, (None, 0), pad_id)
    return np.stack([shard.take(length) for _ in range(count)])
