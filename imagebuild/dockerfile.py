"""Dockerfile and pip requirements parsing for the image preflight (`imagebuild.preflight`).

Standard library plus `packaging` (CodeBuild's buildspec installs it before the preflight runs).
It covers what a training image's Dockerfile uses, not the whole language:

- instructions with `\\` continuations (comment lines inside them dropped, as Docker does) and
  `<<EOF` heredocs on RUN/COPY/ADD;
- build stages (`FROM image AS name`), global and per-stage ARG scoping, `--build-arg` overrides,
  `$VAR` / `${VAR}` / `${VAR:-default}` / `${VAR:+word}` substitution, ENV;
- the pip commands inside RUN (`pip`, `pip3.X`, `python3.X -m pip`, `uv pip`) with their index,
  find-links, `-r` / `-c` files and inline requirements;
- requirements files (options lines, `-r` includes, `--hash` tails). Requirements, PEP 440
  versions and environment markers are packaging's: what it refuses, pip refuses too.

Not covered: the `# escape=` parser directive, `ONBUILD`, shell control flow (every pip command of
a RUN counts, whichever branch runs), pip's `${VAR}` expansion inside requirements files.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement as PepRequirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

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


def split_words(text: str) -> list[str]:
    """Shell-like words; a plain split when the quoting does not balance (a RUN line may hold
    quoting this reader does not follow), since a rough reading beats none."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


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


# ------------------------------------------------------------------------------------ shell / pip

_SHELL_OPERATORS = set(";&|()")
# Words in front of a command that do not change which program runs.
_PREFIX_WORDS = {
    "then",
    "do",
    "else",
    "elif",
    "!",
    "sudo",
    "exec",
    "time",
    "env",
    "command",
    "nohup",
    "{",
}
_PYTHON_EXE = re.compile(r"^python(\d(?:\.\d+)?)?$")
_PIP_EXE = re.compile(r"^pip(\d(?:\.\d+)?)?$")
# pip options that take a value; the ones this module reads get a field of PipCommand.
_PIP_VALUE_OPTIONS = {
    "-i": "index_url",
    "--index-url": "index_url",
    "--extra-index-url": "extra_index_urls",
    "-f": "find_links",
    "--find-links": "find_links",
    "-r": "requirement_files",
    "--requirement": "requirement_files",
    "-c": "constraint_files",
    "--constraint": "constraint_files",
    "-e": None,
    "--editable": None,
    "-t": None,
    "--target": None,
    "--prefix": None,
    "--root": None,
    "--python-version": None,
    "--platform": None,
    "--implementation": None,
    "--abi": None,
    "--only-binary": None,
    "--no-binary": None,
    "--progress-bar": None,
    "--cache-dir": None,
    "--src": None,
    "--log": None,
    "--proxy": None,
    "--retries": None,
    "--timeout": None,
    "--trusted-host": None,
    "--cert": None,
    "--client-cert": None,
    "--exists-action": None,
    "--global-option": None,
    "--config-settings": None,
    "-C": None,
    "--upgrade-strategy": None,
    "--root-user-action": None,
    "--report": None,
    "-w": None,
    "--wheel-dir": None,
    "-d": None,
    "--dest": None,
    "--index-strategy": None,
    "--python": "python",
    "-p": "python",  # uv pip
}
_PIP_SUBCOMMANDS = ("install", "wheel", "download")


@dataclass
class PipCommand:
    """One `pip install|wheel|download` found in a RUN instruction."""

    line: int
    subcommand: str
    python: str | None = None  # "3.12" for `python3.12 -m pip` or `pip3.12`; None: the default
    upgrade: bool = False
    index_url: list[str] = field(default_factory=list)
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    requirement_files: list[str] = field(default_factory=list)
    constraint_files: list[str] = field(default_factory=list)
    requirements: list[Requirement] = field(default_factory=list)  # inline ones
    invalid: list[InvalidLine] = field(default_factory=list)  # inline ones pip refuses


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a RUN line: words split at `;`, `&&`, `||`, `|`, `&`, newlines."""
    if script.lstrip().startswith("["):
        try:
            words = json.loads(script)
            if isinstance(words, list):
                return [[str(w) for w in words]]
        except ValueError:
            pass
    commands = []
    for text in script.replace("\\\n", " ").split("\n"):  # heredoc lines may continue too
        lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()")
        lexer.whitespace_split, lexer.commenters = True, ""
        try:
            tokens = list(lexer)
        except ValueError:
            tokens = re.sub(r"(&&|\|\||;)", r" \1 ", text).split()
        current: list[str] = []
        for token in tokens:
            if token and set(token) <= _SHELL_OPERATORS:
                commands.append(current)
                current = []
            else:
                current.append(token)
        commands.append(current)
    return [c for c in commands if c]


def _strip_prefix(words: list[str]) -> list[str]:
    """Drop RUN flags (`--mount=...`), shell keywords, `sudo`, and `VAR=value` assignments."""
    i = 0
    while i < len(words) and (
        words[i] in _PREFIX_WORDS
        or words[i].startswith("--mount=")
        or words[i].startswith("--network=")
        or words[i].startswith("--security=")
        or re.match(r"^[A-Za-z_]\w*=", words[i])
    ):
        i += 1
    return words[i:]


def _pip_argv(words: list[str]) -> tuple[str | None, list[str]] | None:
    """(interpreter version or None, pip's own arguments) when the command runs pip."""
    words = _strip_prefix(words)
    if not words:
        return None
    exe = posixpath.basename(words[0])
    if m := _PIP_EXE.match(exe):
        return m.group(1), words[1:]
    if exe == "uv" and words[1:2] == ["pip"]:
        return None, words[2:]
    if m := _PYTHON_EXE.match(exe):
        rest = words[1:]
        while (
            rest
            and rest[0].startswith("-")
            and rest[0] not in ("-m", "-c")
            and not rest[0].startswith("-m")
        ):
            rest = rest[1:]  # interpreter flags such as -u, -I, -s
        if rest[:2] == ["-m", "pip"]:
            return m.group(1), rest[2:]
        if rest[:1] == ["-mpip"]:
            return m.group(1), rest[1:]
    return None


def _option_value(word: str, following: list[str]) -> tuple[str | None, str | None, int]:
    """(option, value, words consumed) for `--opt=value`, `--opt value`, `-rfile`."""
    if word.startswith("--") and "=" in word:
        option, _, value = word.partition("=")
        return (option, value, 1) if option in _PIP_VALUE_OPTIONS else (None, None, 1)
    if word in _PIP_VALUE_OPTIONS:
        return word, (following[0] if following else None), 2
    if word[:2] in ("-r", "-c", "-i", "-f", "-e") and len(word) > 2 and not word.startswith("--"):
        return word[:2], word[2:], 1
    return None, None, 1


def _looks_like_path(word: str) -> bool:
    return (
        "/" in word
        or word.startswith((".", "$", "~"))
        or word.endswith((".whl", ".zip", ".tar.gz", ".tgz"))
        or "://" in word
    )


def parse_pip(words: list[str], line: int) -> PipCommand | None:
    """A `PipCommand` for a simple command that runs pip install/wheel/download, else None."""
    found = _pip_argv(words)
    if found is None:
        return None
    python, args = found
    cmd: PipCommand | None = None
    values: dict[str, list[str]] = {}
    positional: list[str] = []
    upgrade, i = False, 0
    while i < len(args):
        word = args[i]
        if word.startswith("-"):
            option, value, used = _option_value(word, args[i + 1 :])
            target = _PIP_VALUE_OPTIONS.get(option) if option else None
            if target and value is not None:
                values.setdefault(target, []).append(value)
            if option is None and (word in ("-U", "--upgrade") or re.match(r"^-[a-zA-Z]*U", word)):
                upgrade = True
            i += used
            continue
        if cmd is None:
            if word not in _PIP_SUBCOMMANDS:
                return None  # pip list, pip uninstall, pip config ...
            cmd = PipCommand(line=line, subcommand=word)
        else:
            positional.append(word)
        i += 1
    if cmd is None:
        return None
    interpreter = values.pop("python", [None])[-1]
    if interpreter and (m := re.search(r"(\d+\.\d+)", interpreter)):
        python = m.group(1)
    cmd.python = python if python and "." in python else None
    cmd.upgrade = upgrade
    for name, items in values.items():
        getattr(cmd, name).extend(items)
    for word in positional:
        req = _read_requirement(word, "", line, cmd.invalid)
        if req is not None:
            cmd.requirements.append(req)
    return cmd


def pip_commands(run: str, line: int = 0) -> list[PipCommand]:
    """Every pip install/wheel/download of one RUN instruction's arguments."""
    out = []
    for words in shell_commands(run):
        cmd = parse_pip(words, line)
        if cmd is not None:
            out.append(cmd)
    return out


# ------------------------------------------------------------------------------- requirements


@dataclass
class Requirement:
    """One requirement line or inline pip argument: packaging's PEP 508 reading of it, the text as
    written (findings quote it, so the user finds their line) and where it was written."""

    parsed: PepRequirement
    text: str
    source: str = ""  # the file (or Dockerfile) it comes from
    line: int = 0
    upgrade: bool = False  # named by `pip install -U`

    @property
    def name(self) -> str:
        """PEP 503 normalised: `Torch_Vision` and `torch-vision` are one package to pip."""
        return canonicalize_name(self.parsed.name)

    @property
    def display(self) -> str:
        return self.parsed.name

    @property
    def specifier(self) -> SpecifierSet:
        return self.parsed.specifier

    @property
    def marker(self) -> Marker | None:
        return self.parsed.marker

    @property
    def url(self) -> str | None:
        return self.parsed.url

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.line else self.source

    @property
    def unmarked(self) -> str:
        """The line as written without its marker (PEP 508 puts the marker last, after `;`)."""
        return self.text.rpartition(";")[0].strip() if self.marker else self.text

    @property
    def exact(self) -> str | None:
        """The version of an `==` / `===` pin without wildcard."""
        for spec in self.specifier:
            if spec.operator in ("==", "===") and not spec.version.endswith(".*"):
                return spec.version
        return None

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class InvalidLine:
    """A requirement pip refuses; the preflight reports it (TS404) instead of skipping it."""

    text: str
    error: str  # packaging's message, first line
    where: str


def parse_requirement(text: str, source: str = "", line: int = 0) -> Requirement | None:
    """A PEP 508 requirement; None for a path, archive or URL (pip takes those, they pin
    nothing) and for text holding a shell or pip `$VAR` (only the build knows its value).
    Raises packaging's InvalidRequirement for what pip would refuse."""
    text = text.strip()
    if "$" in text or (_looks_like_path(text.partition(";")[0].strip()) and "@" not in text):
        return None
    return Requirement(PepRequirement(text), text, source=source, line=line)


def _read_requirement(
    text: str, source: str, line: int, invalid: list[InvalidLine]
) -> Requirement | None:
    try:
        return parse_requirement(text, source, line)
    except InvalidRequirement as err:
        where = f"{source}:{line}" if line else source
        invalid.append(InvalidLine(text.strip(), str(err).splitlines()[0], where))
        return None


@dataclass
class RequirementsFile:
    source: str
    requirements: list[Requirement] = field(default_factory=list)
    invalid: list[InvalidLine] = field(default_factory=list)
    index_url: list[tuple[str, int]] = field(default_factory=list)  # (url, line)
    extra_index_urls: list[tuple[str, int]] = field(default_factory=list)
    find_links: list[tuple[str, int]] = field(default_factory=list)
    includes: list[tuple[str, str, int]] = field(default_factory=list)  # ("-r"|"-c", path, line)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) with `\\` continuations joined and comments removed."""
    out, buf, start = [], "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not buf:
            start = number
        if raw.endswith("\\"):
            buf += raw[:-1] + " "
            continue
        line = re.sub(r"(^|\s)#.*$", "", buf + raw).strip()
        buf = ""
        if line:
            out.append((start, line))
    if buf.strip():
        out.append((start, re.sub(r"(^|\s)#.*$", "", buf).strip()))
    return out


_FILE_OPTIONS = {
    "-i": "index_url",
    "--index-url": "index_url",
    "--extra-index-url": "extra_index_urls",
    "-f": "find_links",
    "--find-links": "find_links",
    "-r": "-r",
    "--requirement": "-r",
    "-c": "-c",
    "--constraint": "-c",
}


def _file_option(parsed: RequirementsFile, line: str, number: int) -> None:
    words = split_words(line)
    option, value = words[0], words[1] if len(words) > 1 else None
    if "=" in option:
        option, _, value = option.partition("=")
    elif option[:2] in ("-r", "-c", "-i", "-f") and len(option) > 2 and option[1] != "-":
        option, value = option[:2], option[2:]
    target = _FILE_OPTIONS.get(option)
    if target is None or value is None:
        return  # --pre, -e ., --no-binary ...: nothing the preflight checks
    if target in ("-r", "-c"):
        parsed.includes.append((target, value, number))
    else:
        getattr(parsed, target).append((value, number))


def parse_requirements(text: str, source: str = "requirements.txt") -> RequirementsFile:
    """A pip requirements file: its requirements, index options and `-r` / `-c` includes."""
    parsed = RequirementsFile(source=source)
    for number, line in _logical_lines(text):
        if line.startswith("-"):
            _file_option(parsed, line, number)
            continue
        line = re.split(r"\s--?[A-Za-z]", " " + line, maxsplit=1)[0].strip()  # --hash=... tail
        req = _read_requirement(line, source, number, parsed.invalid)
        if req is not None:
            parsed.requirements.append(req)
    return parsed


# --------------------------------------------------------------------------- environment markers

# What a build cannot know about the container: the machine (an image may be built for arm64 as
# well as x86_64) and the Python's patch release. A marker is evaluated with each possibility.
MACHINES = ("x86_64", "aarch64")
PYTHONS = tuple(f"3.{minor}" for minor in range(8, 15))
PATCHES = range(0, 31)
# Facts of the build host, not of the image: a marker reading them cannot be decided here.
_HOST_ONLY = ("platform_release", "platform_version")


def evaluate_marker(marker: Marker, env: dict[str, str | None]) -> bool | None:
    """packaging's evaluation, three-valued: True or False when every possible value of what
    `env` leaves unknown (None) agrees, None when they differ (pip may or may not skip the line)."""
    text = str(marker)
    if any(name in text for name in _HOST_ONLY):
        return None
    known = {k: v for k, v in env.items() if v is not None}
    pythons = [known["python_version"]] if "python_version" in known else list(PYTHONS)
    patches = (
        PATCHES if "python_full_version" not in known and "python_full_version" in text else [0]
    )
    machines = [known["platform_machine"]] if "platform_machine" in known else list(MACHINES)
    seen = set()
    for python in pythons:
        for patch in patches:
            full = known.get("python_full_version", f"{python}.{patch}")
            for machine in machines:
                seen.add(
                    marker.evaluate(
                        {
                            **known,
                            "python_version": python,
                            "python_full_version": full,
                            "implementation_version": full,
                            "platform_machine": machine,
                        }
                    )
                )
                if len(seen) > 1:
                    return None
    return seen.pop()
