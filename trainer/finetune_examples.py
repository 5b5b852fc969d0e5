"""Fine-tuning examples (data.format prompt_response or chat): the JSON records checked, and each
turned into its tokens and its labels, the tokens the loss is on (the response, or the assistant
turns) and IGNORE_INDEX elsewhere.

- prompt_response, `{"prompt": ..., "response": ...}`: the prompt encoded as the tokenizer
  encodes one sequence (its BOS, if its post-processor adds one: what a prompt gets at
  generation), then the response's tokens and EOS, which are trained: the model learns to stop.
  Encoded apart, so the boundary is where generation would start from this prompt.
- chat, `{"messages": [{"role": ..., "content": ...}, ...]}`: the conversation rendered with the
  tokenizer's chat template (trainer/chat_template.py) and tokenized whole, with no special
  tokens added, as transformers' apply_chat_template(tokenize=True) does; the tokens that
  overlap an assistant turn are trained (those its `return_assistant_tokens_mask` marks).
  Nothing is appended: the template writes its own BOS and end-of-turn tokens.
An example's first token is never a target: examples are packed one after another
(trainer/example_packing.py), and it would be predicted from the example before.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .chat_template import ChatTemplate, TemplateError
from .config_sections import ConfigError, DataConfig
from .loss_elementwise import IGNORE_INDEX

FORMATS = ("prompt_response", "chat")


@dataclass(frozen=True)
class Example:
    """One record's fields, and where it is (said only when an error needs it: a line number
    costs a read of the file up to it)."""

    fields: dict
    where: Callable[[], str]

    def content(self) -> str:
        """The record as one string: what the validation hold-out hashes."""
        return json.dumps(self.fields, sort_keys=True, ensure_ascii=False)


def fields_of(record, fmt: str) -> tuple[dict | None, str]:
    """(the fields of `fmt` in a parsed JSON record, or None and what is wrong)."""
    if not isinstance(record, dict):
        return None, "not a JSON object"
    if fmt == "prompt_response":
        for key in ("prompt", "response"):
            if not isinstance(record.get(key), str):
                return None, f'needs a string "{key}" (data.format=prompt_response)'
        return {"prompt": record["prompt"], "response": record["response"]}, ""
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        return None, 'needs "messages", a non-empty list (data.format=chat)'
    for i, m in enumerate(messages):
        if not (isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m):
            return None, f'messages[{i}] needs a string "role" and a "content"'
    if not any(m["role"] == "assistant" for m in messages):
        return None, 'has no "assistant" message, so nothing to train on'
    return {"messages": messages}, ""


def format_hint(record) -> str:
    """For a text record without its text field: the format it looks like."""
    if isinstance(record, dict):
        if "messages" in record:
            return "; it looks like chat data: data.format=chat"
        if "prompt" in record and "response" in record:
            return "; it looks like prompt/response data: data.format=prompt_response"
    return ""


class ExampleEncoder:
    def __init__(self, data: DataConfig, tokenizer):
        self.format = data.format
        self.tok = tokenizer
        self.template = ChatTemplate.beside(data.tokenizer) if data.format == "chat" else None

    def encode(self, example: Example) -> tuple[np.ndarray, np.ndarray]:
        """(tokens, labels): labels are the tokens the loss is on, IGNORE_INDEX elsewhere."""
        if self.template is None:
            ids, trained = self._prompt_response(example.fields)
        else:
            try:
                ids, trained = self._chat(example.fields["messages"])
            except TemplateError as e:
                raise ConfigError([f"data.format=chat: {example.where()}: {e}"]) from None
        labels = np.where(trained, ids, IGNORE_INDEX)
        labels[:1] = IGNORE_INDEX
        return ids, labels

    def _prompt_response(self, fields: dict) -> tuple[np.ndarray, np.ndarray]:
        prompt = self.tok.encode(fields["prompt"], specials=True)
        response = self.tok.encode(fields["response"])
        ids = np.concatenate([prompt, response, [self.tok.eos_id]]).astype(np.int64)
        return ids, np.arange(len(ids)) >= len(prompt)

    def _chat(self, messages: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        text, spans = self.template.assistant_spans(messages)
        ids, starts, ends = self.tok.encode_with_offsets(text)
        # A token is trained if it overlaps a turn: transformers' assistant mask spans from the
        # token of a turn's first character to that of its last (char_to_token).
        trained = np.zeros(len(ids), dtype=bool)
        for a, b in spans:
            trained |= (starts < b) & (ends > a)
        return ids, trained
