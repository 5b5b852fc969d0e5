"""The pip commands inside a Dockerfile's RUN lines (`pip`, `pip3.X`, `python3.X -m pip`,
`uv pip`): their interpreter, index, find-links, `-r` / `-c` files and inline requirements.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from .requirements import InvalidLine, Requirement, read_requirement
from .shell import shell_commands, strip_prefix

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


def _pip_argv(words: list[str]) -> tuple[str | None, list[str]] | None:
    """(interpreter version or None, pip's own arguments) when the command runs pip."""
    words = strip_prefix(words)
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
        req = read_requirement(word, "", line, cmd.invalid)
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
