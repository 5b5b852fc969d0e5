"""`preflight --fix`: the findings' Edits written into the Dockerfile and requirements files,
each change shown as a unified diff, then the preflight again, until nothing is left or nothing
more changes (a few rounds: a fix may uncover the next finding, e.g. a rebuilt torch wheel whose
index now disagrees with it).

Edits name words, not columns: a word is replaced where it stands as a whole shell or
requirement word (quotes, `=` and `;` end it), on the instruction or logical line the finding
names, so a file changed by one edit still takes the next. A FROM built from ARGs is fixed in
the ARGs' defaults; a value passed with --build-arg is the caller's and is left alone.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..dockerfile import split_words
from .findings import Edit, Finding

MAX_ROUNDS = 5
_HEREDOC = re.compile(r"<<-?([\"']?)([A-Za-z_]\w*)\1")
_SEPARATOR = re.compile(r"\s*(?:&&|\|\||;)\s*")
_RUN_PREFIX = re.compile(r"^(\s*RUN\s+(?:--\S+\s+)*)", re.IGNORECASE)


def _extent(lines: list[str], start: int) -> int:
    """The end (exclusive) of the instruction or logical line starting at index `start`:
    backslash continuations, comment lines inside them (Docker drops those) and heredocs."""
    i, pending, continued = start, [], False
    while i < len(lines):
        text = lines[i]
        i += 1
        if pending:
            if text.strip() == pending[0]:
                pending.pop(0)
            if pending:
                continue
            break
        if continued and text.lstrip().startswith("#"):
            continue
        pending += [m.group(2) for m in _HEREDOC.finditer(text)]
        continued = text.rstrip().endswith("\\")
        if not (pending or continued):
            break
    return i


def _word(old: str) -> re.Pattern[str]:
    """`old` as a whole word, optionally quoted."""
    return re.compile(r"(?<![^\s'\"=])(['\"]?)" + re.escape(old) + r"\1(?![^\s'\";\\])")


def _empty_pip(segment: str) -> bool:
    """A pip install left with nothing to install (only its options)."""
    words = split_words(segment)
    if "install" not in words:
        return False
    return all(w.startswith("-") for w in words[words.index("install") + 1 :])


def _drop_word(text: str, match: re.Match[str]) -> str:
    """The physical line without the word; without its whole pip command when that command has
    nothing else to install."""
    prefix = _RUN_PREFIX.match(text)
    head = prefix.group(1) if prefix else ""
    start, end = match.start() - len(head), match.end() - len(head)
    body = text[len(head) :]
    if start < 0:  # the word is a RUN flag: nothing of a command to drop
        return text[: match.start()].rstrip() + text[match.end() :]
    before = body[:start].rstrip()
    reduced, cut = (before + body[end:]).rstrip(), len(before)
    parts, seps, pos = [], [], 0
    for sep in _SEPARATOR.finditer(reduced):
        parts.append((pos, sep.start()))
        seps.append(sep)
        pos = sep.end()
    parts.append((pos, len(reduced)))
    for i, (a, b) in enumerate(parts):
        if not (a <= cut <= b) or not _empty_pip(reduced[a:b]):
            continue
        if i > 0:  # with the separator before it
            reduced = reduced[: seps[i - 1].start()] + reduced[b:]
        elif len(parts) > 1:  # the first command: with the separator after it
            reduced = reduced[:a] + reduced[seps[0].end() :]
        else:
            reduced = reduced[:a] + reduced[b:]
        break
    return head + reduced if reduced.strip() else ""


@dataclass
class Outcome:
    """What applying one round of edits did."""

    texts: dict[str, str]  # path -> new text, for the files that changed
    unapplied: list[Edit]


def apply_edits(
    texts: dict[str, str], edits: list[Edit], dockerfile: str, build_args: dict[str, str]
) -> Outcome:
    """The files (path -> text) after `edits`; an edit whose word is no longer where it was
    (an earlier edit of this round took it) waits for the next round."""
    out: dict[str, list[str]] = {}
    unapplied = []
    unique = list(dict.fromkeys(edits))
    # Bottom up, inserts last: a removed or inserted line does not move the lines still to edit.
    for edit in sorted(unique, key=lambda e: (e.old == "", -e.line)):
        if edit.path not in texts:
            unapplied.append(edit)
            continue
        lines = out.setdefault(edit.path, texts[edit.path].splitlines())
        done = _apply(lines, edit, edit.path == dockerfile, build_args)
        if not done:
            unapplied.append(edit)
    changed = {}
    for path, lines in out.items():
        text = "\n".join(lines) + ("\n" if lines else "")
        if text != texts[path]:
            changed[path] = text
    return Outcome(changed, unapplied)


def _apply(lines: list[str], edit: Edit, is_dockerfile: bool, build_args: dict[str, str]) -> bool:
    if edit.old == "":
        lines.insert(max(edit.line - 1, 0), edit.new or "")
        return True
    start = edit.line - 1 if edit.line else 0
    end = _extent(lines, start) if edit.line else len(lines)
    pattern = _word(edit.old)
    for i in range(start, min(end, len(lines))):
        match = pattern.search(lines[i])
        if match is None:
            continue
        if edit.new is not None:
            quote = match.group(1)
            lines[i] = (
                lines[i][: match.start()] + quote + edit.new + quote + lines[i][match.end() :]
            )
        elif not is_dockerfile:
            del lines[start:end]  # the requirement's logical line
        else:
            lines[i] = _drop_word(lines[i], match)
            if not lines[i].strip() or lines[i].strip() == "\\":
                del lines[i]
                if i == end - 1 and i > start and lines[i - 1].rstrip().endswith("\\"):
                    lines[i - 1] = lines[i - 1].rstrip()[:-1].rstrip()
        return True
    if is_dockerfile and edit.new and edit.line:
        return _apply_to_args(lines, start, edit, build_args)
    return False


def _apply_to_args(lines: list[str], at: int, edit: Edit, build_args: dict[str, str]) -> bool:
    """A FROM built from ARGs (`pytorch/pytorch:${TORCH_VERSION}-cuda${CUDA_VERSION}-...`): the
    new reference read back through that template, each changed value written to its ARG's
    default. False when the line is no such FROM or a value comes from --build-arg."""
    m = re.match(r"\s*FROM\s+(?:--platform=\S+\s+)?(\S+)", lines[at], re.IGNORECASE)
    if not m or "$" not in m.group(1):
        return False
    pieces = re.split(r"\$\{(\w+)\}|\$(\w+)", m.group(1))
    pattern, names = "", []
    for i in range(0, len(pieces), 3):
        pattern += re.escape(pieces[i])
        name = (pieces[i + 1] or pieces[i + 2]) if i + 1 < len(pieces) else None
        if name:
            pattern += f"(?P={name})" if name in names else f"(?P<{name}>.+?)"
            names.append(name)
    new = re.fullmatch(pattern, edit.new)
    if new is None:
        return False
    changes = []
    for name in dict.fromkeys(names):
        arg = next(
            (i for i, t in enumerate(lines) if re.match(rf"\s*ARG\s+{name}=", t, re.IGNORECASE)),
            None,
        )
        if arg is None or name in build_args:
            return False
        old = re.match(rf"\s*ARG\s+{name}=(\S*)", lines[arg], re.IGNORECASE).group(1)
        if old != new[name]:
            changes.append((arg, lines[arg].replace(f"{name}={old}", f"{name}={new[name]}", 1)))
    for arg, text in changes:
        lines[arg] = text
    return bool(changes)


def diff(path: str, before: str, after: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )


def why_not_fixed(finding: Finding, build_args: dict[str, str]) -> str:
    """The reason a finding is still there after --fix."""
    if finding.manual:
        return finding.manual
    if not finding.edits:
        return "no mechanical fix: the fix above is for its author to apply"
    if build_args:
        return "its edit did not change it: a --build-arg value is the caller's to change"
    return "its edit did not change it (the text it replaces is not where the finding points)"


def fix_to_fixed_point(
    check: Callable[[], tuple[list[Finding], dict[str, str], str]],
    write: Callable[[str, str], None],
    build_args: dict[str, str],
    echo: Callable[[str], None] = print,
) -> list[Finding]:
    """Check, apply the findings' edits, show the diff, write, and again, until no finding has
    an edit that changes anything (at most MAX_ROUNDS rounds). `check` returns the findings, the
    texts of the files it read (path -> text) and the Dockerfile's path. The last findings."""
    findings, texts, dockerfile = check()
    for _ in range(MAX_ROUNDS):
        edits = [e for f in findings for e in f.edits]
        if not edits:
            break
        outcome = apply_edits(texts, edits, dockerfile, build_args)
        if not outcome.texts:
            break
        for path, text in outcome.texts.items():
            echo(diff(path, texts[path], text).rstrip("\n"))
            write(path, text)
        findings, texts, dockerfile = check()
    return findings
