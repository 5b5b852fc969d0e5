"""Dockerfile and pip requirements parsing for the image preflight (`trainstack.preflight`).

Standard library only: the preflight runs in AWS CodeBuild with a bare `python3` before anything
is installed. It covers what a training image's Dockerfile uses, not the whole language:

- instructions with `\\` continuations (comment lines inside them dropped, as Docker does) and
  `<<EOF` heredocs on RUN/COPY/ADD;
- build stages (`FROM image AS name`), global and per-stage ARG scoping, `--build-arg` overrides,
  `$VAR` / `${VAR}` / `${VAR:-default}` / `${VAR:+word}` substitution, ENV;
- the pip commands inside RUN (`pip`, `pip3.X`, `python3.X -m pip`, `uv pip`) with their index,
  find-links, `-r` / `-c` files and inline requirements;
- requirements files (options lines, `-r` includes, `--hash` tails, environment markers) and the
  PEP 440 subset needed to tell whether two pins can both hold (`==`, `!=`, `<`, `<=`, `>`, `>=`,
  `~=`, `===`, `.*` wildcards, local labels such as `+cu130`).

Not covered: the `# escape=` parser directive, `ONBUILD`, shell control flow (every pip command of
a RUN counts, whichever branch runs), pip's `${VAR}` expansion inside requirements files.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field

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
                        name, default if default is not None else global_args.get(name))
            elif keyword == "ENV":
                values = parse_env(rest)
                stage.env.update({k: substitute(v, stage.variables, strict=False)
                                  for k, v in values.items()})
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


def vtuple(version: str) -> tuple[int, ...]:
    """"13.0" -> (13, 0), so that 13.10 sorts after 13.9 (strings would not)."""
    return tuple(int(p) for p in version.split("."))


# ------------------------------------------------------------------------------------ shell / pip

_SHELL_OPERATORS = set(";&|()")
# Words in front of a command that do not change which program runs.
_PREFIX_WORDS = {"then", "do", "else", "elif", "!", "sudo", "exec", "time", "env", "command",
                 "nohup", "{"}
_PYTHON_EXE = re.compile(r"^python(\d(?:\.\d+)?)?$")
_PIP_EXE = re.compile(r"^pip(\d(?:\.\d+)?)?$")
# pip options that take a value; the ones this module reads get a field of PipCommand.
_PIP_VALUE_OPTIONS = {
    "-i": "index_url", "--index-url": "index_url",
    "--extra-index-url": "extra_index_urls",
    "-f": "find_links", "--find-links": "find_links",
    "-r": "requirement_files", "--requirement": "requirement_files",
    "-c": "constraint_files", "--constraint": "constraint_files",
    "-e": None, "--editable": None, "-t": None, "--target": None, "--prefix": None,
    "--root": None, "--python-version": None, "--platform": None, "--implementation": None,
    "--abi": None, "--only-binary": None, "--no-binary": None, "--progress-bar": None,
    "--cache-dir": None, "--src": None, "--log": None, "--proxy": None, "--retries": None,
    "--timeout": None, "--trusted-host": None, "--cert": None, "--client-cert": None,
    "--exists-action": None, "--global-option": None, "--config-settings": None, "-C": None,
    "--upgrade-strategy": None, "--root-user-action": None, "--report": None,
    "-w": None, "--wheel-dir": None, "-d": None, "--dest": None, "--index-strategy": None,
    "--python": "python", "-p": "python",  # uv pip
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
    while i < len(words) and (words[i] in _PREFIX_WORDS or words[i].startswith("--mount=")
                              or words[i].startswith("--network=")
                              or words[i].startswith("--security=")
                              or re.match(r"^[A-Za-z_]\w*=", words[i])):
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
        while rest and rest[0].startswith("-") and rest[0] not in ("-m", "-c") \
                and not rest[0].startswith("-m"):
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
    return ("/" in word or word.startswith((".", "$", "~")) or word.endswith(
        (".whl", ".zip", ".tar.gz", ".tgz")) or "://" in word)


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
            option, value, used = _option_value(word, args[i + 1:])
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
    cmd.requirements = [r for r in (parse_requirement(w, "", line) for w in positional
                                    if not _looks_like_path(w)) if r]
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

_NAME = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[([^\]]*)\])?\s*")
_SPEC = re.compile(r"^(===|==|!=|<=|>=|~=|<|>)\s*([^\s,;]+)$")


def canonical_name(name: str) -> str:
    """PEP 503 normalisation: `Torch_Vision` and `torch-vision` are one package to pip."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Requirement:
    """One requirement line or inline pip argument."""

    name: str  # canonical
    display: str  # as written
    specs: tuple[tuple[str, str], ...] = ()  # (operator, version)
    marker: str | None = None
    url: str | None = None
    extras: str = ""
    source: str = ""  # the file (or Dockerfile) it comes from
    line: int = 0
    upgrade: bool = False  # named by `pip install -U`

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.line else self.source

    @property
    def spec_text(self) -> str:
        return ",".join(op + version for op, version in self.specs)

    @property
    def exact(self) -> str | None:
        """The version of an `==` / `===` pin without wildcard."""
        for op, version in self.specs:
            if op in ("==", "===") and not version.endswith(".*"):
                return version
        return None

    def __str__(self) -> str:
        text = self.display + (f"[{self.extras}]" if self.extras else "") + self.spec_text
        return text + (f"; {self.marker}" if self.marker else "")


def parse_requirement(text: str, source: str = "", line: int = 0) -> Requirement | None:
    """A PEP 508 requirement, or None for what is not one (a path, an URL, a typo)."""
    m = _NAME.match(text)
    if not m:
        return None
    rest = text[m.end():]
    url = marker = None
    if rest.startswith("@"):
        url, _, marker = rest[1:].partition(";")
        url, spec = url.strip(), ""
    else:
        spec, _, marker = rest.partition(";")
    spec = spec.strip()
    if spec.startswith("(") and spec.endswith(")"):
        spec = spec[1:-1]
    specs = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        sm = _SPEC.match(part)
        if not sm:
            return None
        specs.append((sm.group(1), sm.group(2)))
    return Requirement(name=canonical_name(m.group(1)), display=m.group(1), specs=tuple(specs),
                       marker=(marker or "").strip() or None, url=url,
                       extras=(m.group(2) or "").strip(), source=source, line=line)


@dataclass
class RequirementsFile:
    source: str
    requirements: list[Requirement] = field(default_factory=list)
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


_FILE_OPTIONS = {"-i": "index_url", "--index-url": "index_url",
                 "--extra-index-url": "extra_index_urls", "-f": "find_links",
                 "--find-links": "find_links", "-r": "-r", "--requirement": "-r",
                 "-c": "-c", "--constraint": "-c"}


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
        req = parse_requirement(line, source, number)
        if req is not None:
            parsed.requirements.append(req)
    return parsed


def torch_pin(requirements_text: str) -> str | None:
    """The version of the first `torch==` pin, or None."""
    for req in parse_requirements(requirements_text).requirements:
        if req.name == "torch" and req.exact:
            return req.exact
    return None


# ------------------------------------------------------------------------- versions (PEP 440)

_VERSION = re.compile(
    r"^v?(?P<release>\d+(?:\.\d+)*)"
    r"(?:[-_.]?(?P<pre_l>a|alpha|b|beta|rc|c|pre|preview)[-_.]?(?P<pre_n>\d*))?"
    r"(?:-(?P<post_a>\d+)|[-_.]?(?:post|rev|r)[-_.]?(?P<post_b>\d*))?"
    r"(?:[-_.]?dev[-_.]?(?P<dev>\d*))?"
    r"(?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?$", re.IGNORECASE)
_PRE_ORDER = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "rc": 2, "c": 2, "pre": 2, "preview": 2}


@dataclass(frozen=True)
class Version:
    raw: str
    release: tuple[int, ...]
    pre: tuple[int, int] | None = None
    post: int | None = None
    dev: int | None = None
    local: str | None = None

    @property
    def public(self) -> str:
        return self.raw.split("+", 1)[0]

    def key(self) -> tuple:
        """Sort key without the local label: dev < pre < final < post, trailing zeros ignored."""
        release = self.release
        while len(release) > 1 and release[-1] == 0:
            release = release[:-1]
        if self.pre is not None:
            pre: tuple[int, ...] = (0, *self.pre)
        elif self.dev is not None and self.post is None:
            pre = (-1,)
        else:
            pre = (1,)
        post = (-1,) if self.post is None else (0, self.post)
        dev = (1,) if self.dev is None else (0, self.dev)
        return release, pre, post, dev


def parse_version(text: str) -> Version | None:
    m = _VERSION.match(text.strip())
    if not m:
        return None
    pre = (_PRE_ORDER[m["pre_l"].lower()], int(m["pre_n"] or 0)) if m["pre_l"] else None
    post = m["post_a"] or m["post_b"]
    has_post = m["post_a"] is not None or m["post_b"] is not None
    return Version(raw=text.strip(), release=tuple(int(p) for p in m["release"].split(".")),
                   pre=pre, post=int(post or 0) if has_post else None,
                   dev=int(m["dev"] or 0) if m["dev"] is not None else None,
                   local=m["local"].lower() if m["local"] else None)


def _prefix_match(prefix: str, version: Version) -> bool | None:
    wanted = parse_version(prefix)
    if wanted is None:
        return None
    n = len(wanted.release)
    padded = version.release + (0,) * max(0, n - len(version.release))
    return padded[:n] == wanted.release


def spec_matches(op: str, spec: str, version: Version) -> bool | None:
    """Whether `version` satisfies `<op><spec>`; None when the spec cannot be read. As pip does,
    `==2.13.0` accepts `2.13.0+cu130` (a pin without local label ignores the candidate's)."""
    if op == "===":
        return version.raw == spec
    if op in ("==", "!=") and spec.endswith(".*"):
        hit = _prefix_match(spec[:-2], version)
        return None if hit is None else hit == (op == "==")
    wanted = parse_version(spec)
    if wanted is None:
        return None
    if op in ("==", "!="):
        same = version.key() == wanted.key() and (wanted.local is None
                                                  or version.local == wanted.local)
        return same == (op == "==")
    if op == "~=":
        if len(wanted.release) < 2:
            return None
        return version.key() >= wanted.key() and bool(
            _prefix_match(".".join(map(str, wanted.release[:-1])), version))
    if op == "<":  # `<2.13` excludes 2.13.0rc1 unless it names a pre-release itself
        return version.key() < wanted.key() and not (
            wanted.pre is None and version.pre is not None and _same_release(version, wanted))
    if op == ">":  # `>2.13` excludes 2.13.post1 unless it names a post-release itself
        return version.key() > wanted.key() and not (
            wanted.post is None and version.post is not None and _same_release(version, wanted))
    compare = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b}.get(op)
    return None if compare is None else compare(version.key(), wanted.key())


def _same_release(a: Version, b: Version) -> bool:
    return a.key()[0] == b.key()[0]


def _bump(release: tuple[int, ...]) -> str:
    """The first release after a prefix: (2, 13) -> "2.14"."""
    return ".".join(map(str, release[:-1] + (release[-1] + 1,)))


def bounds(specs: list[tuple[str, str]]) -> list[tuple[str, Version, bool]]:
    """Each spec as ("lower"|"upper", version, inclusive); `==` and `!=` pins are left out."""
    out = []
    for op, spec in specs:
        if op in ("==", "!=", "===") and not (op == "==" and spec.endswith(".*")):
            continue
        text = spec[:-2] if spec.endswith(".*") else spec
        v = parse_version(text)
        if v is None:
            continue
        if op in (">=", ">"):
            out.append(("lower", v, op == ">="))
        elif op in ("<=", "<"):
            out.append(("upper", v, op == "<="))
        elif op == "~=" and len(v.release) >= 2:
            out += [("lower", v, True), ("upper", parse_version(_bump(v.release[:-1])), False)]
        elif op == "==":  # a wildcard: 2.13.* is [2.13, 2.14)
            out += [("lower", v, True), ("upper", parse_version(_bump(v.release)), False)]
    return out


# --------------------------------------------------------------------------- environment markers

_MARKER_TOKEN = re.compile(r"""\s*(?:(?P<str>'[^']*'|"[^"]*")|(?P<op>===|==|!=|<=|>=|~=|<|>|"""
                           r"""not\s+in\b|in\b)|(?P<bool>and\b|or\b)|(?P<paren>[()])|"""
                           r"""(?P<var>[A-Za-z_][A-Za-z0-9_.]*))""")


def _marker_tokens(marker: str) -> list[tuple[str, str]]:
    tokens, pos, text = [], 0, marker.strip()
    while pos < len(text):
        m = _MARKER_TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot read marker {marker!r} at {text[pos:pos + 10]!r}")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


def _compare(lhs: str | None, op: str, rhs: str | None) -> bool | None:
    if lhs is None or rhs is None:
        return None
    if op == "in":
        return lhs in rhs
    if re.match(r"not\s+in", op):
        return lhs not in rhs
    left = parse_version(lhs)
    if left is not None and parse_version(rhs) is not None:
        return spec_matches(op, rhs, left)
    return {"==": lhs == rhs, "!=": lhs != rhs, "===": lhs == rhs}.get(op)


class _MarkerParser:
    """Recursive descent over PEP 508 markers, three-valued: None where the environment does not
    say (a marker nobody can evaluate here must not be taken as false)."""

    def __init__(self, tokens: list[tuple[str, str]], env: dict[str, str | None]):
        self.tokens, self.pos, self.env = tokens, 0, env

    def _next(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ValueError("marker ends early")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def _peek(self, value: str) -> bool:
        return self.pos < len(self.tokens) and self.tokens[self.pos][1] == value

    def expr(self) -> bool | None:
        values = [self.conjunction()]
        while self._peek("or"):
            self.pos += 1
            values.append(self.conjunction())
        return True if True in values else None if None in values else False

    def conjunction(self) -> bool | None:
        values = [self.atom()]
        while self._peek("and"):
            self.pos += 1
            values.append(self.atom())
        return False if False in values else None if None in values else True

    def atom(self) -> bool | None:
        if self._peek("("):
            self.pos += 1
            value = self.expr()
            if self._next()[1] != ")":
                raise ValueError("unbalanced parenthesis")
            return value
        lhs, (kind, op), rhs = self._value(), self._next(), self._value()
        if kind != "op":
            raise ValueError(f"expected an operator, found {op!r}")
        return _compare(lhs, op, rhs)

    def _value(self) -> str | None:
        kind, text = self._next()
        if kind == "str":
            return text[1:-1]
        if kind == "var":
            return self.env.get(text)
        raise ValueError(f"expected a value, found {text!r}")


def evaluate_marker(marker: str, env: dict[str, str | None]) -> bool | None:
    """True / False, or None when it depends on something `env` leaves unknown (or is garbled)."""
    try:
        parser = _MarkerParser(_marker_tokens(marker), env)
        value = parser.expr()
        return value if parser.pos == len(parser.tokens) else None
    except ValueError:
        return None
