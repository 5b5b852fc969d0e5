"""What a check reports: a Finding (code, severity, message, the fix in words) and, where the
fix is mechanical, the Edits that make it (`preflight --fix` applies them, fix.py), or in
`manual` why it takes a person."""

from __future__ import annotations

from dataclasses import dataclass

from ..dockerfile import Requirement


@dataclass(frozen=True)
class Edit:
    """One mechanical change to a file of the build context (named as findings name it).

    In the instruction (Dockerfile) or logical line (requirements) starting at `line`, the word
    `old` becomes `new`; line 0 takes the first such word anywhere in the file. `new` None removes
    the requirement `old`: its line in a requirements file, the word (or the pip command left
    with nothing to install) in a RUN. `old` "" inserts `new` as a line before `line`."""

    path: str
    line: int
    old: str
    new: str | None


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # "error" or "warning"
    message: str
    fix: str
    where: str = ""  # file:line
    edits: tuple[Edit, ...] = ()
    manual: str = ""  # why no edit is offered: the choice is the author's

    def __str__(self) -> str:
        where = f" {self.where}" if self.where else ""
        return f"{self.code} {self.severity}{where}: {self.message}\n    fix: {self.fix}"


def severity(certain: bool) -> str:
    return "error" if certain else "warning"


def pinned(req: Requirement, version: str) -> str:
    """The requirement pinned to `version`, its name and extras as written."""
    extras = f"[{','.join(sorted(req.parsed.extras))}]" if req.parsed.extras else ""
    return f"{req.display}{extras}=={version}"


def repin(req: Requirement, version: str) -> Edit:
    """The requirement's specifier (as written, marker kept) replaced by `==version`."""
    return Edit(req.source, req.line, req.unmarked, pinned(req, version))


def remove(req: Requirement) -> Edit:
    return Edit(req.source, req.line, req.text, None)
