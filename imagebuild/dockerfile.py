"""Dockerfile parsing for the image preflight (`imagebuild.preflight`).

Standard library plus `packaging` (CodeBuild's buildspec installs it before the preflight runs).
It covers what a training image's Dockerfile uses, not the whole language:

- instructions with `\\` continuations (comment lines inside them dropped, as Docker does) and
  `<<EOF` heredocs on RUN/COPY/ADD;
- build stages (`FROM image AS name`), global and per-stage ARG scoping, `--build-arg` overrides,
  `$VAR` / `${VAR}` / `${VAR:-default}` / `${VAR:+word}` substitution, ENV;
- image references (repository and tag).

The RUN lines' shell words are `imagebuild.shell`'s, their pip commands `imagebuild.pip_command`'s,
requirements, requirements files and markers `imagebuild.requirements`'. Not covered: the
`# escape=` parser directive, `ONBUILD`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from . import pip_command, requirements, shell

# Read by imagebuild.preflight from this module: re-exported, their home is named.
from .pip_command import PipCommand, pip_commands  # noqa: F401
from .requirements import (  # noqa: F401
    InvalidLine,
    Requirement,
    RequirementsFile,
    evaluate_marker,
    parse_requirements,
)
from .shell import split_words

# The parser's modules, relative to the repository root: preflight's RUNTIME_FILES names this one
# only, and the CodeBuild bundle (imagebuild/builder.py) needs all of them.
PARSER_FILES = tuple(
    Path(f).resolve().relative_to(Path(__file__).resolve().parents[1]).as_posix()
    for f in (__file__, shell.__file__, requirements.__file__, pip_command.__file__)
)

# ------------------------------------------------------------------------------ Dockerfile text

_VAR = re.compile(r"\$(?:\{(\w+)(?::([-+])([^}]*))?\}|(\w+))")
# BuildKit heredocs. No space after `<<`, so a shift such as `1 << n` inside `python -c` is not
# taken for one.
_HEREDOC = re.compile(r"<<-?([\"']?)([A-Za-z_]\w*)\1")


class Instruction(tuple):
    """One instruction as the pair (KEYWORD, arguments), with the line it starts on as `.line`.

    A tuple so callers can keep comparing and unpacking plain `(keyword, rest)` pairs."""

    line: int

    def __new__(cls, keyword: str, rest: str, line: int = 0) -> Instruction:
        self = super().__new__(cls, (keyword, rest))
        self.line = line
        return self

    @property
    def keyword(self) -> str:
        return self[0]

    @property
    def rest(self) -> str:
        return self[1]


def _heredoc_body(lines: list[str], start: int, word: str) -> tuple[str, int]:
    """The raw lines from `start` up to the terminating `word` line, and the index after it."""
    body = []
    for i in range(start, len(lines)):
        if lines[i].strip() == word:
            return "\n".join(body), i + 1
        body.append(lines[i])
    raise ValueError(f"heredoc <<{word} is never closed")


def instructions(text: str) -> list[Instruction]:
    """(KEYWORD, arguments) per instruction; continuations joined, comments and blanks dropped
    (Docker drops comment lines inside a continuation too)."""
    lines = text.splitlines()
    out: list[Instruction] = []
    buf, start, i = "", 0, 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        if not buf:
            start = i
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        keyword, _, rest = (buf + line).partition(" ")
        keyword, rest, buf = keyword.upper(), rest.strip(), ""
        if keyword in ("RUN", "COPY", "ADD"):
            for m in _HEREDOC.finditer(rest):
                body, i = _heredoc_body(lines, i, m.group(2))
                rest += "\n" + body
        out.append(Instruction(keyword, rest, start))
    if buf:
        raise ValueError(f"dangling line continuation: {buf[:60]!r}")
    return out


def substitute(value: str, env: dict[str, str | None], strict: bool = True) -> str:
    """`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+word}`. Strict: an unset plain reference is
    an error (Docker would silently make it empty); lenient: it stays as written, for reading
    RUN lines whose variables the shell resolves at build time."""

    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(4)
        op, word, value = m.group(2), m.group(3), env.get(name)
        if op == "-":
            return value or word
        if op == "+":
            return word if value else ""
        if value is None:
            if strict:
                raise KeyError(f"${{{name}}} has no value")
            return m.group(0)
        return value

    return _VAR.sub(repl, value)


def parse_args(arguments: str) -> dict[str, str | None]:
    """`ARG A=1 B` -> {"A": "1", "B": None}."""
    out = {}
    for token in split_words(arguments):
        name, eq, default = token.partition("=")
        out[name] = default if eq else None
    return out


def parse_env(arguments: str) -> dict[str, str]:
    """`ENV A=1 B="x y"` -> {"A": "1", "B": "x y"}; the legacy `ENV A x y` -> {"A": "x y"}."""
    words = split_words(arguments)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(w.partition("=")[::2] for w in words if "=" in w)


@dataclass
class Dockerfile:
    """One build stage; `parse_dockerfile` returns the final one (the image that ships)."""

    base: str  # the FROM's image reference (or an earlier stage's name), variables resolved
    args: dict[str, str | None]  # ARGs of the stage with their effective defaults
    steps: list[Instruction] = field(default_factory=list)  # the stage's instructions after FROM
    name: str | None = None  # the `AS name`, lower-cased as Docker matches it
    line: int = 0  # line of the FROM
    env: dict[str, str] = field(default_factory=dict)  # ENV values set in the stage

    @property
    def variables(self) -> dict[str, str | None]:
        """What `$VAR` means inside the stage's RUN lines: its ENV over its ARGs."""
        return {**self.args, **self.env}


def _from_stage(rest: str, global_args: dict[str, str | None], line: int) -> Dockerfile:
    words = [w for w in rest.split() if not w.startswith("--")]  # drop --platform=...
    if not words:
        raise ValueError(f"line {line}: FROM names no image")
    name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
    try:
        base = substitute(words[0], global_args)
    except KeyError as err:
        raise KeyError(f"line {line}: FROM {words[0]}: {err.args[0]}") from None
    return Dockerfile(base=base, args={}, name=name, line=line)


def parse_stages(text: str, build_args: dict[str, str] | None = None) -> list[Dockerfile]:
    """Every stage in order. `build_args` act like `docker build --build-arg`: they replace the
    default of an ARG the Dockerfile declares."""
    overrides = build_args or {}
    global_args: dict[str, str | None] = {}
    stages: list[Dockerfile] = []
    for ins in instructions(text):
        keyword, rest = ins
        if keyword == "FROM":
            stages.append(_from_stage(rest, global_args, ins.line))
        elif not stages:
            if keyword == "ARG":
                for name, default in parse_args(rest).items():
                    global_args[name] = overrides.get(name, default)
        else:
            stage = stages[-1]
            if keyword == "ARG":
                for name, default in parse_args(rest).items():
                    # A bare re-declaration inherits the global default.
                    stage.args[name] = overrides.get(
                        name, default if default is not None else global_args.get(name)
                    )
            elif keyword == "ENV":
                values = parse_env(rest)
                stage.env.update(
                    {k: substitute(v, stage.variables, strict=False) for k, v in values.items()}
                )
            stage.steps.append(ins)
    if not stages:
        raise ValueError("no FROM instruction")
    return stages


def parse_dockerfile(text: str, build_args: dict[str, str] | None = None) -> Dockerfile:
    """The final stage: the image that is pushed and run."""
    return parse_stages(text, build_args)[-1]


def split_image(ref: str) -> tuple[str, str | None]:
    """(repository, tag or None); a registry port (`host:5000/x`) is not a tag."""
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        return name[: len(name) - len(last)] + last.split(":", 1)[0], last.split(":", 1)[1]
    return name, None
