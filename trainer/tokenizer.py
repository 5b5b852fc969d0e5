"""Text -> token ids: bytes by default (no file needed), a `tokenizer.json` if given.

`encode(text)` gives the text's tokens alone (documents are packed with an EOS after each);
`encode(text, specials=True)` adds what the tokenizer itself puts around one sequence (a
tokenizer.json's post-processor: Llama 3's prepends <|begin_of_text|>), as a prompt is encoded
for generation."""

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

    def encode(self, text: str, specials: bool = False) -> np.ndarray:
        ids = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)
        return np.append(self.bos_id, ids) if specials else ids

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

    def encode(self, text: str, specials: bool = False) -> np.ndarray:
        return np.asarray(self._tok.encode(text, add_special_tokens=specials).ids, dtype=np.int64)

    def encode_with_offsets(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The tokens of `text` as it is (special tokens written in it included, none added),
        and the [start, end) character offsets of each in `text`."""
        enc = self._tok.encode(text, add_special_tokens=False)
        offsets = np.asarray(enc.offsets, dtype=np.int64).reshape(len(enc.ids), 2)
        return np.asarray(enc.ids, dtype=np.int64), offsets[:, 0], offsets[:, 1]

    def decode(self, ids) -> str:
        return self._tok.decode([int(i) for i in ids])


def load(path: str | None):
    return JsonTokenizer(path) if path else ByteTokenizer()
