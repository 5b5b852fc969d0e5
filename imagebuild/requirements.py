"""pip requirements: one requirement (PEP 508, read by packaging as pip reads it), requirements
files (options lines, `-r` / `-c` includes, `--hash` tails) and environment markers evaluated for a
container the build cannot fully know.

Requirements, PEP 440 versions and environment markers are packaging's: what it refuses, pip
refuses too. Not covered: pip's `${VAR}` expansion inside requirements files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement as PepRequirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from .shell import split_words


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


def looks_like_path(word: str) -> bool:
    return (
        "/" in word
        or word.startswith((".", "$", "~"))
        or word.endswith((".whl", ".zip", ".tar.gz", ".tgz"))
        or "://" in word
    )


def parse_requirement(text: str, source: str = "", line: int = 0) -> Requirement | None:
    """A PEP 508 requirement; None for a path, archive or URL (pip takes those, they pin
    nothing) and for text holding a shell or pip `$VAR` (only the build knows its value).
    Raises packaging's InvalidRequirement for what pip would refuse."""
    text = text.strip()
    if "$" in text or (looks_like_path(text.partition(";")[0].strip()) and "@" not in text):
        return None
    return Requirement(PepRequirement(text), text, source=source, line=line)


def read_requirement(
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
        req = read_requirement(line, source, number, parsed.invalid)
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
