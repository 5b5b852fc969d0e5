"""Checks of the pins across every requirements file and RUN line: conflicts (TS401), duplicates
(TS402), files pip installs that were not read (TS403), lines pip refuses (TS404). PEP 440 is
packaging's; only whether two ranges overlap is computed here."""

from __future__ import annotations

from packaging.specifiers import Specifier
from packaging.version import Version

from ..dockerfile import Requirement
from .facts import version_or_none
from .findings import Finding, pinned, remove, repin
from .image import Image


def _exact_versions(reqs: list[Requirement]) -> list[tuple[Requirement, str, Version]]:
    """(requirement, pin as written, its version) for each `==` pin without wildcard."""
    out = []
    for req in reqs:
        for spec in req.specifier:
            version = (
                version_or_none(spec.version)
                if spec.operator == "==" and not spec.version.endswith(".*")
                else None
            )
            if version:
                out.append((req, spec.version, version))
    return out


def _conflict(reqs: list[Requirement]) -> tuple[Requirement, Requirement, str] | None:
    """The first pair of requirements of one package that no version satisfies together. A pin
    is tested with prereleases allowed: pip installs a pre-release it is pinned to, and PEP 440
    still keeps `<2.14` from matching 2.14.0.dev0."""
    exact = _exact_versions(reqs)
    for i, (a, pa, va) in enumerate(exact):
        for b, pb, vb in exact[i + 1 :]:
            # A pin without local label takes any local build: 2.13.0 and 2.13.0+cu130 agree.
            if not Specifier(f"=={pb}").contains(va, prereleases=True) and not Specifier(
                f"=={pa}"
            ).contains(vb, prereleases=True):
                return a, b, f"=={pa} and =={pb}"
    for a, pa, va in exact:
        for b in reqs:
            for spec in b.specifier:
                # Pin against pin is the loop above: with a local label on one side
                # (2.13.0 / 2.13.0+cu130) it holds whichever way round it is compared.
                if spec.operator == "===" or (
                    spec.operator == "==" and not spec.version.endswith(".*")
                ):
                    continue
                if not spec.contains(va, prereleases=True):
                    return a, b, f"=={pa} is excluded by {spec}"
    return _range_conflict(reqs)


def _bump(release: tuple[int, ...]) -> Version:
    """The first release after a prefix: (2, 13) -> 2.14."""
    return Version(".".join(map(str, release[:-1] + (release[-1] + 1,))))


def _bounds(spec: Specifier) -> list[tuple[str, Version, bool]]:
    """The specifier as ("lower"|"upper", version, inclusive) ends; pins and `!=` have none.
    packaging tests versions against a specifier; whether two ranges overlap is ours."""
    op, text = spec.operator, spec.version
    if op in ("!=", "===") or (op == "==" and not text.endswith(".*")):
        return []
    if op == "==":  # a wildcard: 2.13.* is [2.13, 2.14)
        version = Version(text[:-2])
        return [("lower", version, True), ("upper", _bump(version.release), False)]
    version = Version(text)
    if op == "~=":  # ~=2.10 is [2.10, 3)
        return [("lower", version, True), ("upper", _bump(version.release[:-1]), False)]
    return [("lower" if op[0] == ">" else "upper", version, op.endswith("="))]


def _range_conflict(reqs: list[Requirement]) -> tuple[Requirement, Requirement, str] | None:
    lower = upper = None
    for req in reqs:
        for spec in req.specifier:
            for side, version, inclusive in _bounds(spec):
                if side == "lower" and (lower is None or version > lower[1]):
                    lower = (req, version, inclusive)
                if side == "upper" and (upper is None or version < upper[1]):
                    upper = (req, version, inclusive)
    if lower is None or upper is None:
        return None
    lo, hi = lower[1], upper[1]
    if lo > hi or (lo == hi and not (lower[2] and upper[2])):
        return lower[0], upper[0], (f"{lower[0].unmarked} and {upper[0].unmarked} do not overlap")
    return None


def _keep_one(keep: Requirement, reqs: list[Requirement], version: str | None = None) -> dict:
    """The edits that leave `keep` (pinned to `version` when given) as the package's only line."""
    edits = [repin(keep, version)] if version and keep.unmarked != pinned(keep, version) else []
    return {"edits": (*edits, *(remove(r) for r in reqs if r is not keep))}


def _pin_fix(
    name: str, reqs: list[Requirement], image: Image, conflict: tuple[Requirement, Requirement, str]
) -> tuple[str, dict]:
    """One pin that satisfies every line (the base's torch for torch), else keep the first of
    the two conflicting lines and drop the second; with the edits that do it (the first line,
    files before RUN lines, is the one kept)."""
    if name == "torch" and image.base.kind == "pytorch" and image.base.torch:
        text = f"torch=={image.base.torch} in one place; delete the other torch lines"
        return text, _keep_one(reqs[0], reqs, image.base.torch)
    for _, pin, version in _exact_versions(reqs):
        if all(r.specifier.contains(version, prereleases=True) for r in reqs):
            text = f"{reqs[0].display}=={pin} in one place; delete the other lines"
            return text, _keep_one(reqs[0], reqs, pin)
    keep, drop, _ = conflict
    text = f"{keep.unmarked} ({keep.where}); delete {drop} ({drop.where})"
    if keep is drop:
        return text, {"manual": f"{keep} contradicts itself: which bound is meant is the author's"}
    return text, {"edits": (remove(drop),)}


def _groups(image: Image) -> dict[str, list[Requirement]]:
    groups: dict[str, list[Requirement]] = {}
    for req in image.active:
        groups.setdefault(req.name, []).append(req)
    return groups


def check_pins(image: Image) -> list[Finding]:
    """Pins spread over files and RUN lines: pip fails on the conflicting ones at build time."""
    out = []
    for name, reqs in _groups(image).items():
        if len(reqs) < 2 and not (reqs and len(reqs[0].specifier) > 1):
            continue
        conflict = _conflict(reqs)
        if conflict:
            a, b, why = conflict
            places = a.where if a is b else f"{a.where} and {b.where}"
            fix, edits = _pin_fix(name, reqs, image, conflict)
            out.append(
                Finding(
                    "TS401",
                    "error",
                    f"{a.display} pins conflict ({places}): {why}; pip cannot satisfy both",
                    fix,
                    a.where,
                    **edits,
                )
            )
        elif len(reqs) > 1 and any(r.specifier for r in reqs):
            wheres = ", ".join(
                f"{r.where} ({r.unmarked}{'' if r.specifier else ' unpinned'})" for r in reqs
            )
            keep = next((r for r in reqs if r.exact), max(reqs, key=lambda r: len(r.specifier)))
            out.append(
                Finding(
                    "TS402",
                    "warning",
                    f"{reqs[0].display} is pinned in {len(reqs)} places: {wheres}",
                    f"keep one line: {keep.unmarked} ({keep.where})",
                    reqs[1].where,
                    **_keep_one(keep, reqs),
                )
            )
    return out


def check_unread_files(image: Image) -> list[Finding]:
    """A file pip installs but nobody checked is where the next conflict hides."""
    return [
        Finding(
            "TS403",
            "warning",
            f"pip installs {path}, which the preflight was not given: its pins are not checked",
            f"--requirements {path}",
            where,
            manual=f"{path} is not in the build context: its pins are its author's to write "
            "(or the -r naming it to drop)",
        )
        for path, where in image.unread_files
    ]


def check_invalid_requirements(image: Image) -> list[Finding]:
    """pip stops the build at a requirement it cannot read; the rest of its pins go unchecked."""
    return [
        Finding(
            "TS404",
            "error",
            f"pip refuses {line.text!r}: {line.error}",
            "write it as PEP 508 and PEP 440 allow (a local label such as +cu130 "
            "only after == or !=, e.g. torch==2.13.0+cu130)",
            line.where,
            manual="which version was meant is for the line's author to say",
        )
        for line in image.invalid
    ]
