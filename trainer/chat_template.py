"""A model's chat template: found beside its tokenizer.json, rendered as transformers renders it,
and the places of the assistant turns in the rendered text.

What transformers does (5.23.0, tokenization_utils_base.py `apply_chat_template` and
utils/chat_template_utils.py `_cached_compile_jinja_template` / `render_jinja_template`), and
what this module does alike:
- the template: `chat_template.jinja` beside the tokenizer, which takes priority over the
  `chat_template` key of tokenizer_config.json; a list of named templates there means the one
  named "default";
- the environment: Jinja's ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the
  loopcontrols extension and a `generation` block tag; a `tojson` filter that is plain
  json.dumps (no HTML escaping; indent, separators, sort_keys taken), and the globals
  `raise_exception`, `dict` and `namespace` (a namespace refuses underscore names);
- the variables: `messages` (keys whose value is null dropped), `tools=None`,
  `documents=None`, `add_generation_prompt`, and the named special tokens (bos_token,
  eos_token, ...) as strings from tokenizer_config.json;
- the text is then tokenized with no special tokens added (the template writes them).
Left out on purpose: the `strftime_now` global. With it, a template that puts today's date in
the system prompt (Llama 3.2's does) would render other tokens on another day, and a resumed run
would not see the batches of an uninterrupted one. Without it such a template takes its own
fallback date; a template that calls it regardless fails with a message naming it. Also left
out: tools, documents and transformers' copying of a message's reasoning between field names.

Assistant turns: a template with `{% generation %}` blocks marks them itself (transformers'
`return_assistant_tokens_mask`). Otherwise assistant message i spans from the end of the first i
messages rendered with `add_generation_prompt` to the end of the first i + 1 messages rendered:
the turn's text and whatever closes it (Llama 3's <|eot_id|>), which the model must learn to
write. That needs a template that renders a conversation's beginning as a prefix of the whole;
one that rewrites earlier turns (dropping their reasoning, say) is refused unless it marks its
turns with `{% generation %}`.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .config_sections import ConfigError

TEMPLATE_FILE = "chat_template.jinja"
CONFIG_FILE = "tokenizer_config.json"
LEGACY_SPECIALS_FILE = "special_tokens_map.json"
SPECIAL_TOKENS = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)
# Around the output of a `{% generation %}` block while rendering; removed before tokenizing.
# Private-use characters, refused in the messages of such a template so that none is faked.
_OPEN, _CLOSE = "\ue000", "\ue001"
_MARK = re.compile(f"([{_OPEN}{_CLOSE}])")
_GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")


class TemplateError(ValueError):
    """A conversation this template cannot render, or whose turns cannot be found."""


class _Generation(Extension):
    """`{% generation %}...{% endgeneration %}`: the body, between markers."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_mark"), [], [], body).set_lineno(lineno)

    def _mark(self, caller) -> str:
        return _OPEN + caller() + _CLOSE


class _Namespace(jinja2.utils.Namespace):
    """`namespace(...)`, refusing names that start with an underscore (a way to internals)."""

    def __init__(*args, **kwargs):  # the signature of Jinja's own, so `namespace(self=1)` works
        self, args = args[0], args[1:]
        attrs = dict(*args, **kwargs)
        for name in attrs:
            _Namespace._check(name)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, name, value):
        _Namespace._check(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)

    @staticmethod
    def _check(name) -> None:
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError(f"namespace attribute {name!r}")


class _Dict:
    """`dict(...)` and `dict.fromkeys(...)` for templates, without handing them the type."""

    def __call__(self, *args, **kwargs) -> dict:
        return dict(*args, **kwargs)

    def fromkeys(self, *args, **kwargs) -> dict:
        return dict.fromkeys(*args, **kwargs)


def _raise_exception(message: str):
    raise jinja2.exceptions.TemplateError(message)


def _tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False) -> str:
    return json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[_Generation, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["dict"] = _Dict()
    env.globals["namespace"] = _Namespace
    return env


def _read_json(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except ValueError as e:
        raise ConfigError([f"data.tokenizer: {path} is not JSON ({e})"]) from None


def _token_string(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or an AddedToken dict."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _template_source(folder: str, config: dict) -> tuple[str | None, str]:
    """(template text or None, the file it is in)."""
    jinja_file = os.path.join(folder, TEMPLATE_FILE)
    if os.path.exists(jinja_file):
        with open(jinja_file, encoding="utf-8") as f:
            return f.read(), jinja_file
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates: the default one
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    found = template if isinstance(template, str) and template else None
    return found, os.path.join(folder, CONFIG_FILE)


class ChatTemplate:
    def __init__(self, template: str, specials: dict[str, str], source: str):
        self.source = source
        try:
            self._template = _environment().from_string(template)
        except jinja2.exceptions.TemplateSyntaxError as e:
            raise ConfigError(
                [f"data.tokenizer: the chat template in {source} does not parse ({e})"]
            ) from None
        self._specials = specials
        self.marks_turns = _GENERATION_TAG.search(template) is not None

    @classmethod
    def beside(cls, tokenizer_path: str | None) -> ChatTemplate:
        """The chat template of the tokenizer.json at `tokenizer_path`, or a ConfigError."""
        if not tokenizer_path:
            raise ConfigError(
                [
                    "data.format=chat: needs data.tokenizer, a tokenizer.json with a chat "
                    "template beside it (the default byte tokenizer has none)"
                ]
            )
        folder = os.path.dirname(os.path.abspath(tokenizer_path))
        config = _read_json(os.path.join(folder, CONFIG_FILE))
        template, where = _template_source(folder, config)
        if template is None:
            raise ConfigError(
                [
                    f"data.format=chat: data.tokenizer={tokenizer_path} has no chat template: "
                    f"no {TEMPLATE_FILE} beside it and no `chat_template` key in {where}"
                ]
            )
        legacy = _read_json(os.path.join(folder, LEGACY_SPECIALS_FILE))
        specials = {}
        for key in SPECIAL_TOKENS:
            value = _token_string(config.get(key)) or _token_string(legacy.get(key))
            if value is not None:
                specials[key] = value
        return cls(template, specials, where)

    def render(self, messages: list[dict], add_generation_prompt: bool = False) -> str:
        """The conversation as the template writes it, with generation markers if any. A key
        whose value is null is left out of its message, as transformers does."""
        messages = [{k: v for k, v in m.items() if v is not None} for m in messages]
        try:
            return self._template.render(
                messages=messages,
                tools=None,
                documents=None,
                add_generation_prompt=add_generation_prompt,
                **self._specials,
            )
        except jinja2.exceptions.TemplateError as e:
            raise TemplateError(f"the chat template ({self.source}) fails: {e}") from None

    def text(self, messages: list[dict], add_generation_prompt: bool = False) -> str:
        """The conversation as transformers' apply_chat_template(tokenize=False) writes it."""
        text = self.render(messages, add_generation_prompt)
        return _marked_spans(text)[0] if self.marks_turns else text

    def assistant_spans(self, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
        """The rendered conversation, and the [start, end) character spans of its assistant
        turns (what the loss is on)."""
        if self.marks_turns:
            if _MARK.search(json.dumps(messages, ensure_ascii=False)):
                raise TemplateError("a message holds the private-use characters U+E000/U+E001")
            return _marked_spans(self.render(messages))
        full = self.render(messages)
        spans = []
        for i, m in enumerate(messages):
            if m.get("role") != "assistant":
                continue
            head = self.render(messages[:i], add_generation_prompt=True)
            upto = self.render(messages[: i + 1])
            if not (upto.startswith(head) and full.startswith(upto)):
                raise TemplateError(
                    f"the chat template ({self.source}) does not render the conversation up to "
                    f"message {i} as the start of the whole conversation, so its assistant turn "
                    "cannot be told apart; a template that rewrites earlier turns needs "
                    "{% generation %} blocks around the assistant's text"
                )
            spans.append((len(head), len(upto)))
        return full, spans


def _marked_spans(marked: str) -> tuple[str, list[tuple[int, int]]]:
    """Removes the markers of `{% generation %}` blocks; their spans in the text left."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    length, start = 0, None
    for piece in _MARK.split(marked):
        if piece == _OPEN:
            start = length
        elif piece == _CLOSE:
            if start is not None:
                spans.append((start, length))
            start = None
        else:
            out.append(piece)
            length += len(piece)
    return "".join(out), spans
