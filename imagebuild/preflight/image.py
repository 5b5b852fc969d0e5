"""The image model the checks read: its build stages (the final one and those it uses), the
requirements of every file and RUN line, the PyTorch indexes, the requirement files it installs."""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from dataclasses import replace as _replace

from ..dockerfile import (
    Dockerfile,
    InvalidLine,
    PipCommand,
    Requirement,
    RequirementsFile,
    evaluate_marker,
    parse_requirements,
    parse_stages,
    pip_commands,
    split_words,
    substitute,
)
from .base import UBUNTU_PYTHON, Base, read_base
from .facts import Facts, cuda_of_tag

# Environment of a training container for requirement markers; the machine is left unknown
# because a build may target arm64 as well as x86_64.
MARKER_ENV = {
    "os_name": "posix",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "",
}
WHEEL_INDEX = re.compile(
    r"download\.pytorch\.org/whl/(?:(?:nightly|test)/)?"
    r"(?P<tag>cu\d+|cpu|rocm[\d.]+|xpu)(?=/|$)"
)


@dataclass
class Stage:
    """A build stage with what the checks need: its root image, Python, pip commands."""

    index: int
    df: Dockerfile
    base: Base  # its own FROM
    root: Base  # the image at the bottom of its FROM chain
    parent: Stage | None = None
    python: str | None = None
    python_certain: bool = False
    pips: list[PipCommand] = field(default_factory=list)
    copies_from: list[tuple[str, int]] = field(default_factory=list)  # (stage ref, line)

    @property
    def label(self) -> str:
        return f"'{self.df.name}'" if self.df.name else f"#{self.index}"


def _apt_python(stage: Stage) -> tuple[str | None, bool]:
    """The Python an apt/conda install in the stage brings: ("3.12", certain) or (None, False)."""
    runs = " ".join(rest for keyword, rest in stage.df.steps if keyword == "RUN")
    conda = re.search(r"\b(?:conda|mamba|micromamba)\s+install\b[^;&|]*\bpython=?=(3\.\d+)", runs)
    if conda:
        return conda.group(1), True
    if stage.python is not None:  # the base's own `python` stays first on PATH
        return None, False
    apt = re.search(r"\bapt(?:-get)?\s+install\b[^;&|]*?\bpython(3(?:\.\d+)?)\b", runs)
    if not apt:
        return None, False
    if apt.group(1) != "3":
        return apt.group(1), True
    python = UBUNTU_PYTHON.get(stage.root.ubuntu or "")
    return python, python is not None


def _copy_sources(stage: Dockerfile) -> list[tuple[str, int]]:
    out = []
    for ins in stage.steps:
        if ins.keyword in ("COPY", "ADD"):
            m = re.search(r"--from=(\S+)", ins.rest)
            if m:
                out.append((m.group(1).lower(), ins.line))
    return out


def build_stages(dfs: list[Dockerfile]) -> list[Stage]:
    stages: list[Stage] = []
    by_name: dict[str, Stage] = {}
    for index, df in enumerate(dfs):
        base = read_base(df.base)
        parent = by_name.get(df.base.lower())
        if parent is not None:
            base.kind = "stage"
        stage = Stage(
            index=index,
            df=df,
            base=base,
            root=parent.root if parent else base,
            parent=parent,
            copies_from=_copy_sources(df),
        )
        stage.python, stage.python_certain = (
            (parent.python, parent.python_certain) if parent else (base.python, base.python_certain)
        )
        python, certain = _apt_python(stage)
        if python:
            stage.python, stage.python_certain = python, certain
        stage.pips = [
            cmd
            for ins in df.steps
            if ins.keyword == "RUN"
            for cmd in pip_commands(substitute(ins.rest, df.variables, strict=False), ins.line)
        ]
        stages.append(stage)
        if df.name:
            by_name[df.name] = stage
    return stages


def stage_ref(stages: list[Stage], ref: str) -> Stage | None:
    for stage in stages:
        if stage.df.name == ref or str(stage.index) == ref:
            return stage
    return None


def reachable(stages: list[Stage]) -> list[Stage]:
    """The final stage and the stages it is built from or copies from, in file order: a builder
    stage the final image never uses cannot break it."""
    seen: set[int] = set()
    todo = [stages[-1]]
    while todo:
        stage = todo.pop()
        if stage.index in seen:
            continue
        seen.add(stage.index)
        todo += [
            s
            for s in [stage.parent] + [stage_ref(stages, r) for r, _ in stage.copies_from]
            if s is not None
        ]
    return [s for s in stages if s.index in seen]


@dataclass
class IndexRef:
    """A download.pytorch.org index or find-links URL and the CUDA its wheels are built for."""

    option: str
    url: str
    cuda: str
    where: str


@dataclass
class Image:
    """Everything the checks read, built once by `analyze`."""

    name: str  # the Dockerfile's name in findings
    stages: list[Stage]  # reachable, final last
    files: dict[str, RequirementsFile]
    requirements: list[Requirement]  # all, files first then RUN lines
    invalid: list[InvalidLine]  # requirements pip refuses, files first then RUN lines
    active: list[Requirement]  # those whose markers do not exclude the image
    indexes: list[IndexRef]
    facts: Facts
    unread_files: list[tuple[str, str]] = field(default_factory=list)  # (path, where installed)

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    @property
    def base(self) -> Base:
        return self.final.root

    @property
    def root_stage(self) -> Stage:
        """The stage whose FROM names the final image's base (the final one, or its ancestor)."""
        stage = self.final
        while stage.parent is not None:
            stage = stage.parent
        return stage

    def at(self, line: int) -> str:
        return f"{self.name}:{line}"

    def torch_reqs(self) -> list[Requirement]:
        return [r for r in self.active if r.name == "torch"]

    def torch_pin(self) -> Requirement | None:
        return next((r for r in self.torch_reqs() if r.exact), None)


def _index_refs(option: str, url: str, where: str) -> list[IndexRef]:
    out = []
    for word in url.split():
        m = WHEEL_INDEX.search(word)
        cuda = cuda_of_tag(m["tag"]) if m else None
        if cuda:
            out.append(IndexRef(option, word, cuda, where))
    return out


def _collect_indexes(
    stages: list[Stage], files: dict[str, RequirementsFile], name: str
) -> list[IndexRef]:
    out: list[IndexRef] = []
    for parsed in files.values():
        for option in ("index_url", "extra_index_urls", "find_links"):
            for url, line in getattr(parsed, option):
                out += _index_refs(_option_flag(option), url, f"{parsed.source}:{line}")
    for stage in stages:
        for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS"):
            if var in stage.df.env:
                line = next(
                    (i.line for i in stage.df.steps if i.keyword == "ENV" and var in i.rest),
                    stage.df.line,
                )
                out += _index_refs(f"ENV {var}=", stage.df.env[var], f"{name}:{line}")
        for cmd in stage.pips:
            for option in ("index_url", "extra_index_urls", "find_links"):
                for url in getattr(cmd, option):
                    out += _index_refs(_option_flag(option), url, f"{name}:{cmd.line}")
    return out


def _option_flag(option: str) -> str:
    return {
        "index_url": "--index-url",
        "extra_index_urls": "--extra-index-url",
        "find_links": "--find-links",
    }[option]


def _normal(path: str) -> str:
    path = posixpath.normpath(path.replace("\\", "/"))
    return path[2:] if path.startswith("./") else path


def _context_source(stage: Stage, line: int, path: str) -> str | None:
    """The build-context path that a file pip reads inside the image was copied from, following
    the stage's COPY/ADD and WORKDIR instructions up to `line`; None when it was not copied."""
    workdir, copies = "/", []
    for ins in stage.df.steps:
        if ins.line >= line:
            break
        if ins.keyword == "WORKDIR":
            workdir = posixpath.join(workdir, substitute(ins.rest, stage.df.variables, False))
        elif ins.keyword in ("COPY", "ADD") and "--from=" not in ins.rest:
            words = [w for w in _copy_words(ins.rest) if not w.startswith("--")]
            if len(words) >= 2:
                dest = posixpath.join(workdir, words[-1])
                copies.append((words[:-1], dest, dest.endswith("/") or len(words) > 2))
    target = posixpath.normpath(posixpath.join(workdir, path))
    for sources, dest, dest_is_dir in reversed(copies):
        found = _copied_from(sources, posixpath.normpath(dest), dest_is_dir, target)
        if found:
            return _normal(found)
    return None


def _copy_words(rest: str) -> list[str]:
    if rest.startswith("["):
        try:
            return [str(w) for w in json.loads(rest)]
        except ValueError:
            pass
    return split_words(rest)


def _copied_from(sources: list[str], dest: str, dest_is_dir: bool, target: str) -> str | None:
    if target == dest and not dest_is_dir and len(sources) == 1:
        return sources[0]
    if not target.startswith(dest.rstrip("/") + "/"):
        return None
    rel = target[len(dest.rstrip("/")) + 1 :]
    for src in sources:
        name = posixpath.basename(src.rstrip("/"))
        if name == rel and not src.endswith("/") and src != ".":
            return src  # COPY a/requirements.txt /app/
        if src.endswith("/") or src == "." or "." not in name:
            return posixpath.join(src, rel)  # COPY trainer/ /opt/trainer/
    return None


def _file_includes(files: dict[str, RequirementsFile]) -> list[tuple[str, str]]:
    """(missing path, where it is included) for `-r`/`-c` lines naming a file not given."""
    known = {_normal(k) for k in files}
    out = []
    for parsed in files.values():
        for _, path, line in parsed.includes:
            full = _normal(posixpath.join(posixpath.dirname(_normal(parsed.source)), path))
            if full not in known:
                out.append((full, f"{parsed.source}:{line}"))
    return out


def _dockerfile_includes(
    stages: list[Stage], files: dict[str, RequirementsFile], name: str
) -> list[tuple[str, str]]:
    known = {_normal(k) for k in files}
    out = []
    for stage in stages:
        for cmd in stage.pips:
            for path in cmd.requirement_files + cmd.constraint_files:
                source = _context_source(stage, cmd.line, path)
                if source is not None and source not in known:
                    out.append((source, f"{name}:{cmd.line}"))
    return out


def installed_requirement_files(
    dockerfile_text: str, build_args: dict[str, str] | None = None
) -> list[str]:
    """Build-context paths of the files the image's pip commands install with -r/-c (in the
    final stage and the stages it uses); empty when the Dockerfile cannot be parsed."""
    try:
        stages = reachable(build_stages(parse_stages(dockerfile_text, build_args)))
    except (ValueError, KeyError):
        return []
    out: list[str] = []
    for stage in stages:
        for cmd in stage.pips:
            for path in cmd.requirement_files + cmd.constraint_files:
                source = _context_source(stage, cmd.line, path)
                if source is not None and source not in out:
                    out.append(source)
    return out


def marker_env(image_python: str | None) -> dict[str, str | None]:
    return {**MARKER_ENV, "python_version": image_python, "python_full_version": None}


def build_image(
    dfs: list[Dockerfile], requirements: dict[str, str], name: str, facts: Facts
) -> Image:
    stages = reachable(build_stages(dfs))
    files = {source: parse_requirements(text, source) for source, text in requirements.items()}
    reqs = [r for parsed in files.values() for r in parsed.requirements]
    for stage in stages:
        for cmd in stage.pips:
            for req in cmd.requirements:
                req.source, req.line, req.upgrade = name, cmd.line, cmd.upgrade
                reqs.append(req)
    invalid = [line for parsed in files.values() for line in parsed.invalid]
    invalid += [
        _replace(line, where=f"{name}:{cmd.line}")
        for stage in stages
        for cmd in stage.pips
        for line in cmd.invalid
    ]
    env = marker_env(stages[-1].python)
    active = [r for r in reqs if r.marker is None or evaluate_marker(r.marker, env) is not False]
    return Image(
        name=name,
        stages=stages,
        files=files,
        requirements=reqs,
        invalid=invalid,
        active=active,
        indexes=_collect_indexes(stages, files, name),
        facts=facts,
        unread_files=_file_includes(files) + _dockerfile_includes(stages, files, name),
    )
