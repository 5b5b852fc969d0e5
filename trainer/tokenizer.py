"""Text -> token ids: bytes by default (no file needed), a `tokenizer.json` if given."""

from __future__ import annotations

import numpy as np

from .config_sections import ConfigError

EOS_NAMES = ("<|end_of_text|>", "<|endoftext|>", "</s>", "<eos>", "[SEP]")


class ByteTokenizer:
    """UTF-8 bytes 0-255, then BOS=256 and EOS=257."""

    vocab_size = 258
    bos_id = 256
    eos_id = 257
    name = "bytes"

    def encode(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)

    def decode(self, ids) -> str:
        return bytes(int(i) for i in ids if i < 256).decode("utf-8", errors="replace")


class JsonTokenizer:
    """A `tokenizers` tokenizer.json (the format of Llama 3's and most hub tokenizers)."""

    def __init__(self, path: str):
        from tokenizers import Tokenizer

        try:
            self._tok = Tokenizer.from_file(path)
        except Exception as e:
            raise ConfigError(
                [f"data.tokenizer={path}: cannot load a tokenizer.json ({e})"]
            ) from None
        self.name = path
        self.vocab_size = self._tok.get_vocab_size()
        ids = [self._tok.token_to_id(t) for t in EOS_NAMES]
        found = [i for i in ids if i is not None]
        if not found:
            raise ConfigError(
                [
                    f"data.tokenizer={path}: has none of the end-of-text tokens "
                    f"{', '.join(EOS_NAMES)}"
                ]
            )
        self.eos_id = found[0]

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self._tok.encode(text, add_special_tokens=False).ids, dtype=np.int64)

    def decode(self, ids) -> str:
        return self._tok.decode([int(i) for i in ids])


def load(path: str | None):
    return JsonTokenizer(path) if path else ByteTokenizer()
