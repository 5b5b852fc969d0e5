"""Dockerfile preflight: the conflicts between a training image's base, its pip installs and the
GPU nodes, found before an hour of CodeBuild (or a CrashLoopBackOff on a GPU node) finds them.

    python -m imagebuild.preflight [--dockerfile trainer/Dockerfile]
        [--requirements trainer/requirements.txt ...] [--build-arg NAME=VALUE ...] [--json]

Paths are relative to the current directory (CodeBuild runs it from the source root, which is also
the build context). Besides the --requirements files (default trainer/requirements.txt) it reads
every requirements file the Dockerfile's pip installs with -r/-c, found through its COPY lines,
and the files those include. Exit code 1 when any finding is an error, 0 otherwise, 2 when a file
cannot be read. Needs the standard library and `packaging` (requirements, PEP 440 versions and
markers read as pip reads them); CodeBuild's buildspec installs the pinned `packaging` in its
install phase, before this runs. The version facts come from components/versions.py, read with
`ast` (never imported, so nothing that file or its package might import later is needed here).

Finding codes (stable; a code's meaning never changes, new checks get new codes):

  TS100 error    the Dockerfile cannot be analysed (no FROM, unclosed continuation or heredoc,
                 a FROM variable with no value).
  TS101 error    a base image with neither tag nor digest (`FROM pytorch/pytorch`).
  TS102 error    a base image on `:latest`.
  TS103 error    the base image's torch (pytorch/pytorch:<torch>-...) is not the `torch==` pin.
  TS104 error    ARG TORCH_VERSION / CUDA_VERSION disagree with the base tag they describe.
  TS105 warning  torch is not pinned with `==` (error when `pip install -U` names it: that
                 replaces the base's CUDA build with PyPI's newest).
  TS106 warning  a pytorch/pytorch or nvidia/cuda tag this module cannot read: the torch/CUDA
                 checks are skipped for it.
  TS201 error    a `+cuXXX` / `+cpu` wheel pin for another CUDA than the base image's.
  TS202 error    a download.pytorch.org index or find-links (`/whl/cuXXX`, `/whl/cpu`) for another
                 CUDA than the image's (a CPU index on a CUDA image included).
  TS203 error    the image's CUDA is newer than the node driver runs (NVIDIA_DRIVER_MAX_CUDA).
  TS204 error    a torch release / CUDA pair with no published build (TORCH_CUDA_BUILDS).
  TS205 warning  a torch release missing from TORCH_CUDA_BUILDS: its CUDA builds are unknown.
  TS206 warning  torch comes from PyPI onto a base without torch: which CUDA build is unchecked.
  TS301 error    `python3.X -m pip` / `pip3.X` for another Python than the stage's.
  TS302 error    `COPY --from` a stage whose Python differs (wheels, venvs, site-packages).
  TS303 error    every line of a package has a marker excluding the image's Python: pip skips it.
  TS401 error    conflicting pins of one package (`==` vs `==`, `==` vs an excluding range, or
                 ranges that do not overlap), across all requirement files and RUN lines.
  TS402 warning  one package pinned in several places (compatible, but two sources of truth).
  TS403 warning  pip installs a requirements file (`-r`) that was not given to the preflight.
  TS404 error    a requirement pip refuses (packaging cannot read it: `torch<=2.13.0+cu130`,
                 a local label on an ordered comparison, is one).

The TS30x checks are warnings instead of errors when the Python they compare against is inferred
from the pytorch/pytorch table below rather than stated by the base tag or the distribution.
"""

from __future__ import annotations

import argparse
import ast
import functools
import json
import os
import posixpath
import re
import sys
from dataclasses import asdict, dataclass, field
from dataclasses import replace as _replace
from pathlib import Path

from packaging.specifiers import Specifier
from packaging.version import InvalidVersion, Version

from . import dockerfile as _dockerfile
from .dockerfile import (
    Dockerfile,
    InvalidLine,
    PipCommand,
    Requirement,
    RequirementsFile,
    evaluate_marker,
    parse_requirements,
    parse_stages,
    pip_commands,
    split_image,
    split_words,
    substitute,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
VERSIONS_PY = REPO_ROOT / "components" / "versions.py"
# Every file `python3 -m imagebuild.preflight` reads besides its inputs, relative to the repository
# root: the package, this module, the parser it imports and the version facts. The CodeBuild source
# bundle (imagebuild/builder.py) is built from this, so the two cannot drift apart.
RUNTIME_FILES = tuple(
    Path(f).resolve().relative_to(REPO_ROOT).as_posix()
    for f in (Path(__file__).with_name("__init__.py"), __file__, _dockerfile.__file__, VERSIONS_PY)
)

# Python of the official pytorch/pytorch images. pytorch's docker.Makefile builds them with
# `PYTHON_VERSION ?= 3.11`, and its docker release matrix (generate_docker_release_matrix.py) does
# not override it. From which release on that holds (2.4 assumed here) and whether a later release
# moved on could not be verified, so an older tag gives no Python and the TS30x findings that rest
# on this table are warnings. `docker run --rm <image> python -V` settles it.
PYTORCH_IMAGE_PYTHON = {(2, 4): "3.11"}
# `python3` from apt on the Ubuntu releases nvidia/cuda and ubuntu images are built on.
UBUNTU_PYTHON = {"20.04": "3.8", "22.04": "3.10", "24.04": "3.12"}
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
_PYTORCH_TAG = re.compile(
    r"^(?P<torch>\d+\.\d+\.\d+)(?:-cuda(?P<cuda>\d+\.\d+)"
    r"-cudnn(?P<cudnn>\d+))?-(?P<flavor>runtime|devel)$"
)
_CUDA_TAG = re.compile(r"^(?P<cuda>\d+\.\d+(?:\.\d+)?)-(?P<rest>.+)$")
_PYTHON_TAG = re.compile(r"^(?P<py>3\.\d+)(?:\.\d+)?(?:[-.a-z].*)?$")
_WHEEL_INDEX = re.compile(
    r"download\.pytorch\.org/whl/(?:(?:nightly|test)/)?"
    r"(?P<tag>cu\d+|cpu|rocm[\d.]+|xpu)(?=/|$)"
)


# ------------------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class Facts:
    """The version facts the checks compare against (components/versions.py by default)."""

    driver_max_cuda: str
    torch_cuda_builds: dict[str, tuple[str, ...]]


def read_versions(path: Path = VERSIONS_PY) -> dict[str, object]:
    """The literal top-level assignments of versions.py, read without running it."""
    values: dict[str, object] = {}
    for node in ast.parse(path.read_text(), str(path)).body:
        target = (
            node.targets[0]
            if isinstance(node, ast.Assign) and len(node.targets) == 1
            else node.target
            if isinstance(node, ast.AnnAssign)
            else None
        )
        if isinstance(target, ast.Name) and node.value is not None:
            try:
                values[target.id] = ast.literal_eval(node.value)
            except ValueError:
                pass  # not a literal: nothing the preflight reads
    return values


@functools.cache
def load_facts(path: Path = VERSIONS_PY) -> Facts:
    values = read_versions(path)
    missing = [n for n in ("NVIDIA_DRIVER_MAX_CUDA", "TORCH_CUDA_BUILDS") if n not in values]
    if missing:
        raise ValueError(f"{path}: no literal {', '.join(missing)}")
    builds = values["TORCH_CUDA_BUILDS"]
    return Facts(
        driver_max_cuda=str(values["NVIDIA_DRIVER_MAX_CUDA"]),
        torch_cuda_builds={str(k): tuple(map(str, v)) for k, v in builds.items()},
    )


# ---------------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # "error" or "warning"
    message: str
    fix: str
    where: str = ""  # file:line

    def __str__(self) -> str:
        where = f" {self.where}" if self.where else ""
        return f"{self.code} {self.severity}{where}: {self.message}\n    fix: {self.fix}"


def _error(certain: bool) -> str:
    return "error" if certain else "warning"


def _version(text: str) -> Version | None:
    """packaging's reading of a version; None for an `===` pin that is not PEP 440."""
    try:
        return Version(text)
    except InvalidVersion:
        return None


def public(version: str) -> str:
    """ "2.13.0+cu130" -> "2.13.0": the version without its local label."""
    parsed = _version(version)
    return parsed.public if parsed else version


def release_of(torch: str) -> str:
    """ "2.13.0+cu130" -> "2.13", the key of TORCH_CUDA_BUILDS."""
    return ".".join(map(str, Version(torch).release[:2]))


def cu_tag(cuda: str) -> str:
    """ "13.0" -> "cu130", as download.pytorch.org and wheel local labels spell it."""
    if not re.fullmatch(r"\d+\.\d+", cuda):
        return cuda  # cpu, rocm6.2, xpu are spelled as they are
    return "cu" + "".join(cuda.split("."))


def cuda_of_tag(tag: str) -> str | None:
    """ "cu130" -> "13.0", "cpu" -> "cpu", "rocm6.2" -> "rocm6.2"; the minor is the last digit."""
    if re.fullmatch(r"cu\d{2,}", tag):
        return f"{tag[2:-1]}.{tag[-1]}"
    return tag if tag == "cpu" or tag.startswith(("rocm", "xpu")) else None


def describe_cuda(cuda: str) -> str:
    return (
        "CPU-only"
        if cuda == "cpu"
        else cuda
        if cuda.startswith(("rocm", "xpu"))
        else f"CUDA {cuda}"
    )


# ------------------------------------------------------------------------------- the image model


@dataclass
class Base:
    """What a FROM reference says about the image: repository, tag, torch, CUDA, Python."""

    ref: str
    repo: str
    tag: str | None
    digest: str | None
    kind: str  # pytorch | cuda | python | ubuntu | stage | scratch | other
    torch: str | None = None
    cuda: str | None = None  # "13.0"; "cpu" for a CPU-only pytorch tag
    cudnn: str | None = None
    flavor: str | None = None
    python: str | None = None
    python_certain: bool = False
    ubuntu: str | None = None
    rest: str | None = None  # the nvidia/cuda tag after its version: "cudnn-runtime-ubuntu24.04"
    understood: bool = True


def _pytorch_python(torch: str) -> str | None:
    for since, python in sorted(PYTORCH_IMAGE_PYTHON.items(), reverse=True):
        if Version(torch).release[:2] >= since:
            return python
    return None


def read_base(ref: str) -> Base:
    repo, tag = split_image(ref)
    digest = ref.split("@", 1)[1] if "@" in ref else None
    short = re.sub(r"^(?:docker\.io/|index\.docker\.io/)?(?:library/)?", "", repo)
    base = Base(ref=ref, repo=short, tag=tag, digest=digest, kind="other")
    if short == "scratch":
        base.kind = "scratch"
    elif short == "pytorch/pytorch":
        base.kind = "pytorch"
        m = _PYTORCH_TAG.match(tag or "")
        base.understood = bool(m)
        if m:
            base.torch, base.cuda = m["torch"], m["cuda"] or "cpu"
            base.cudnn, base.flavor = m["cudnn"], m["flavor"]
            base.python = _pytorch_python(m["torch"])
    elif short == "nvidia/cuda":
        base.kind = "cuda"
        m = _CUDA_TAG.match(tag or "")
        base.understood = bool(m)
        if m:
            base.cuda, base.rest = ".".join(m["cuda"].split(".")[:2]), m["rest"]
            ub = re.search(r"ubuntu(\d+\.\d+)", m["rest"])
            base.ubuntu = ub.group(1) if ub else None
    elif short == "python":
        base.kind = "python"
        m = _PYTHON_TAG.match(tag or "")
        base.python, base.python_certain = (m["py"], True) if m else (None, False)
    elif short == "ubuntu":
        base.kind = "ubuntu"
        base.ubuntu = tag if tag in UBUNTU_PYTHON else None
    return base


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


def _stage_ref(stages: list[Stage], ref: str) -> Stage | None:
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
            for s in [stage.parent] + [_stage_ref(stages, r) for r, _ in stage.copies_from]
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

    def at(self, line: int) -> str:
        return f"{self.name}:{line}"

    def torch_reqs(self) -> list[Requirement]:
        return [r for r in self.active if r.name == "torch"]

    def torch_pin(self) -> Requirement | None:
        return next((r for r in self.torch_reqs() if r.exact), None)


def _index_refs(option: str, url: str, where: str) -> list[IndexRef]:
    out = []
    for word in url.split():
        m = _WHEEL_INDEX.search(word)
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


def _marker_env(image_python: str | None) -> dict[str, str | None]:
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
    env = _marker_env(stages[-1].python)
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


# ------------------------------------------------------------------------------ suggested fixes


def best_cuda(facts: Facts, torch: str | None) -> str:
    """The newest CUDA the torch release is built for that the node driver runs; the driver's
    own maximum when the release is unknown."""
    builds = facts.torch_cuda_builds.get(release_of(torch)) if torch else None
    limit = Version(facts.driver_max_cuda)
    usable = [c for c in builds or () if Version(c) <= limit]
    return max(usable, key=Version) if usable else facts.driver_max_cuda


def newest_release(facts: Facts) -> str:
    return max(facts.torch_cuda_builds, key=Version) + ".0"


def pytorch_tag(torch: str, cuda: str, base: Base | None = None) -> str:
    cudnn = base.cudnn if base and base.cudnn else "9"
    flavor = base.flavor if base and base.flavor else "runtime"
    return f"pytorch/pytorch:{torch}-cuda{cuda}-cudnn{cudnn}-{flavor}"


def suggested_base(image: Image, base: Base) -> str:
    """A pinned tag for an unpinned or `:latest` base."""
    pin = image.torch_pin()
    if base.kind == "pytorch":
        torch = public(pin.exact) if pin else newest_release(image.facts)
        return pytorch_tag(torch, best_cuda(image.facts, torch))
    if base.kind == "cuda":
        cuda = best_cuda(image.facts, pin.exact if pin else None)
        # X.Y.0 exists for every CUDA release; a later patch of the same X.Y is as good.
        return f"nvidia/cuda:{cuda}.0-cudnn-runtime-ubuntu24.04"
    if base.kind == "python":
        return f"python:{image.final.python or '3.11'}-slim"
    return f"{base.repo}:<release tag>@sha256:<digest>"


def suggested_torch(image: Image) -> str:
    """The torch pin that keeps what the base carries, or a published build for its CUDA."""
    base = image.base
    if base.kind == "pytorch" and base.torch:
        return f"torch=={base.torch}"
    if base.cuda and base.cuda != "cpu":
        builds = image.facts.torch_cuda_builds
        releases = [r for r in builds if base.cuda in builds[r]]
        if releases:
            return f"torch=={max(releases, key=Version)}.0+{cu_tag(base.cuda)}"
    return f"torch=={newest_release(image.facts)}"


# ------------------------------------------------------------------------------------ checks


def check_base_pinned(image: Image) -> list[Finding]:
    """A moving base changes torch, CUDA and Python under an unchanged Dockerfile."""
    out = []
    for stage in image.stages:
        base = stage.base
        if base.kind in ("stage", "scratch") or base.digest:
            continue
        if base.tag is None:
            out.append(
                Finding(
                    "TS101",
                    "error",
                    f"base image {base.ref!r} is not pinned to a "
                    "release tag: every build may pull a different torch and CUDA",
                    suggested_base(image, base),
                    image.at(stage.df.line),
                )
            )
        elif base.tag == "latest":
            out.append(
                Finding(
                    "TS102",
                    "error",
                    f"base image {base.ref!r} is not pinned: `latest` moves to each new release",
                    suggested_base(image, base),
                    image.at(stage.df.line),
                )
            )
    return out


def check_torch_vs_base(image: Image) -> list[Finding]:
    """pip replaces the base's CUDA build of torch with whatever the pin resolves to."""
    base = image.base
    if base.kind != "pytorch" or not base.torch:
        return []
    out = []
    for req in image.torch_reqs():
        pin = req.exact
        if pin is None or public(pin) == base.torch:
            continue
        fix = f"torch=={base.torch}"
        cuda = base.cuda if base.cuda != "cpu" else None
        if (
            cuda
            and _version(pin)
            and cuda in image.facts.torch_cuda_builds.get(release_of(pin), ())
            and Version(cuda) <= Version(image.facts.driver_max_cuda)
        ):
            fix += f" (or FROM {pytorch_tag(public(pin), cuda, base)})"
        out.append(
            Finding(
                "TS103",
                "error",
                f"pins torch=={pin}, the base image "
                f"carries {base.torch} ({base.ref}): pip would replace it",
                fix,
                req.where,
            )
        )
    return out


def check_args_vs_tag(image: Image) -> list[Finding]:
    """The Dockerfile's own ARGs describe the base; when they disagree, whatever reads them
    (the trainer Dockerfile's torch check, labels) checks against the wrong image."""
    stage, base = image.final, image.final.root
    tag_values = {
        "TORCH_VERSION": base.torch,
        "CUDA_VERSION": base.cuda if base.cuda != "cpu" else None,
    }
    out = []
    for arg, tag_value in tag_values.items():
        value = stage.df.args.get(arg)
        if not tag_value or not value or value == tag_value:
            continue
        if arg == "CUDA_VERSION" and ".".join(value.split(".")[:2]) == tag_value:
            continue  # ARG CUDA_VERSION=13.0.2 on nvidia/cuda:13.0.2-...
        what = "torch" if arg == "TORCH_VERSION" else "CUDA"
        out.append(
            Finding(
                "TS104",
                "error",
                f"base tag {what} {tag_value} != ARG {arg} {value}",
                f"ARG {arg}={tag_value}",
                image.at(stage.df.line),
            )
        )
    return out


def check_torch_pinned(image: Image) -> list[Finding]:
    """Without `torch==`, any dependency's torch requirement may swap the CUDA build."""
    reqs = image.torch_reqs()
    fix = suggested_torch(image)
    out = []
    for req in reqs:
        if req.exact:
            continue
        if req.upgrade:
            out.append(
                Finding(
                    "TS105",
                    "error",
                    f"`pip install -U {req}` replaces the base's torch with PyPI's newest build",
                    fix,
                    req.where,
                )
            )
        elif not image.torch_pin():
            out.append(
                Finding(
                    "TS105",
                    "warning",
                    f"torch is not pinned with == ({req}): "
                    "pip may install another torch and CUDA build",
                    fix,
                    req.where,
                )
            )
    if not reqs and image.base.kind == "pytorch" and image.base.torch and image.requirements:
        out.append(
            Finding(
                "TS105",
                "warning",
                "torch is not pinned in the requirements: a "
                "dependency that wants another torch makes pip replace the base's "
                "CUDA build",
                fix,
                image.requirements[0].source,
            )
        )
    return out


def check_tag_understood(image: Image) -> list[Finding]:
    out = []
    for stage in image.stages:
        base = stage.base
        if (
            base.kind in ("pytorch", "cuda")
            and not base.understood
            and base.tag
            and base.tag != "latest"
        ):
            expected = (
                "<torch>-cuda<X.Y>-cudnn<N>-runtime|devel"
                if base.kind == "pytorch"
                else "<X.Y.Z>-<flavor>-<os>"
            )
            out.append(
                Finding(
                    "TS106",
                    "warning",
                    f"cannot read tag {base.tag!r} of "
                    f"{base.repo} (expected {expected}): torch/CUDA checks skipped",
                    suggested_base(image, base),
                    image.at(stage.df.line),
                )
            )
    return out


def _wheel_cuda(version: str) -> str | None:
    parsed = _version(version)
    return cuda_of_tag(parsed.local) if parsed and parsed.local else None


def check_wheel_suffix(image: Image) -> list[Finding]:
    """A `+cuXXX` wheel brings its own CUDA runtime next to the base's: two CUDAs, one loaded."""
    base = image.base
    if not base.cuda:
        return []
    out = []
    for req in image.active:
        wheel = _wheel_cuda(req.exact) if req.exact else None
        if wheel is None or wheel == base.cuda:
            continue
        if req.name == "torch" and base.kind == "pytorch" and base.torch == public(req.exact):
            fix = f"torch=={public(req.exact)}"  # the base's own build, whatever its local label
        else:
            fix = f"{req.display}=={public(req.exact)}+{cu_tag(base.cuda)}"
        out.append(
            Finding(
                "TS201",
                "error",
                f"pins {req.display}=={req.exact}, a "
                f"{describe_cuda(wheel)} build, on a {describe_cuda(base.cuda)} base "
                f"({base.ref})",
                fix,
                req.where,
            )
        )
    return out


def image_cuda(image: Image) -> tuple[str | None, str]:
    """The CUDA the image runs and where that comes from: the base, else the torch wheel."""
    if image.base.cuda:
        return image.base.cuda, f"base {image.base.ref}"
    for req in image.torch_reqs():
        wheel = _wheel_cuda(req.exact) if req.exact else None
        if wheel:
            return wheel, f"{req.where}: torch=={req.exact}"
    if image.indexes:
        return image.indexes[0].cuda, f"{image.indexes[0].where}: {image.indexes[0].url}"
    return None, ""


def check_index_cuda(image: Image) -> list[Finding]:
    """An index for another CUDA (or CPU) is where pip fetches torch and its kin from."""
    cuda, origin = image_cuda(image)
    if cuda is None:
        return []
    out = []
    for ref in image.indexes:
        if ref.cuda == cuda:
            continue
        url = _WHEEL_INDEX.sub(lambda m: m.group(0).replace(m["tag"], cu_tag(cuda)), ref.url)
        out.append(
            Finding(
                "TS202",
                "error",
                f"{ref.url} serves "
                f"{describe_cuda(ref.cuda)} wheels, the image is "
                f"{describe_cuda(cuda)} ({origin})",
                f"{ref.option} {url}",
                ref.where,
            )
        )
    return out


def check_driver(image: Image) -> list[Finding]:
    """The node driver, not the image, bounds the CUDA a container can initialise."""
    cuda, origin = image_cuda(image)
    facts = image.facts
    if (
        not cuda
        or not re.fullmatch(r"\d+\.\d+", cuda)
        or Version(cuda) <= Version(facts.driver_max_cuda)
    ):
        return []
    base, pin = image.base, image.torch_pin()
    torch = base.torch or (public(pin.exact) if pin else None)
    best = best_cuda(facts, torch)
    if base.kind == "pytorch" and base.torch:
        fix = pytorch_tag(base.torch, best, base)
    elif base.kind == "cuda" and base.cuda:
        fix = f"nvidia/cuda:{best}.0-{base.rest}"
    else:
        fix = (
            f"torch=={torch or newest_release(facts)}+{cu_tag(best)} with --extra-index-url "
            f"https://download.pytorch.org/whl/{cu_tag(best)}"
        )
    where = image.at(image.final.df.line) if base.cuda else origin.split(": ", 1)[0]
    return [
        Finding(
            "TS203",
            "error",
            f"CUDA {cuda} ({origin}) is newer than the node driver "
            f"supports ({facts.driver_max_cuda}, NVIDIA_DRIVER_MAX_CUDA): CUDA "
            "initialisation fails on the GPU nodes",
            fix,
            where,
        )
    ]


def _torch_cuda_pairs(image: Image) -> list[tuple[str, str, str, str]]:
    """(torch, CUDA, where, kind) for each torch build the image would run or fetch."""
    base, pairs = image.base, []
    if base.kind == "pytorch" and base.torch and base.cuda and base.cuda != "cpu":
        pairs.append((base.torch, base.cuda, image.at(image.final.df.line), "base"))
    index_cuda = next((i.cuda for i in image.indexes if re.fullmatch(r"\d+\.\d+", i.cuda)), None)
    for req in image.torch_reqs():
        if not req.exact or not _version(req.exact):
            continue
        release, wheel = public(req.exact), _wheel_cuda(req.exact)
        if wheel is None and base.kind != "pytorch":
            wheel = index_cuda
        if wheel and re.fullmatch(r"\d+\.\d+", wheel):
            pairs.append((release, wheel, req.where, "pin"))
    return pairs


def check_published_builds(image: Image) -> list[Finding]:
    """A torch/CUDA pair nobody built fails at `docker build` (no such tag or wheel)."""
    facts, out, seen = image.facts, [], set()
    for torch, cuda, where, kind in _torch_cuda_pairs(image):
        release = release_of(torch)
        if (release, cuda) in seen:
            continue
        seen.add((release, cuda))
        builds = facts.torch_cuda_builds.get(release)
        if builds is None:
            out.append(
                Finding(
                    "TS205",
                    "warning",
                    f"no TORCH_CUDA_BUILDS entry for torch "
                    f"{release} (components/versions.py): its CUDA builds cannot be "
                    "checked",
                    f"torch=={newest_release(facts)}, or add torch {release} to TORCH_CUDA_BUILDS",
                    where,
                )
            )
            continue
        if cuda in builds:
            continue
        best, base = best_cuda(facts, torch), image.base
        if kind == "base":
            fix = pytorch_tag(torch, best, base)
        elif base.kind == "cuda" and base.rest:  # the wheel's CUDA must stay the base's (TS201)
            fix = f"nvidia/cuda:{best}.0-{base.rest} with torch=={torch}+{cu_tag(best)}"
        else:
            fix = f"torch=={torch}+{cu_tag(best)}"
        out.append(
            Finding(
                "TS204",
                "error",
                f"torch {release} ships no CUDA {cuda} build (only {', '.join(builds)})",
                fix,
                where,
            )
        )
    return out


def check_pypi_torch(image: Image) -> list[Finding]:
    """PyPI's torch carries a default CUDA build that no tag or index here names."""
    base = image.base
    if base.kind == "pytorch" or any(i.cuda for i in image.indexes):
        return []
    out = []
    for req in image.torch_reqs():
        if req.exact and _wheel_cuda(req.exact) is None:
            cuda = (
                base.cuda if base.cuda and base.cuda != "cpu" else best_cuda(image.facts, req.exact)
            )
            cu = cu_tag(cuda)
            out.append(
                Finding(
                    "TS206",
                    "warning",
                    f"torch=={req.exact} comes from "
                    "PyPI, whose default CUDA build is not checked against "
                    f"{describe_cuda(base.cuda) if base.cuda else 'the nodes'}",
                    f"torch=={req.exact}+{cu} with --extra-index-url "
                    f"https://download.pytorch.org/whl/{cu}",
                    req.where,
                )
            )
    return out


def _python_origin(stage: Stage) -> str:
    root = stage.root
    if root.kind == "pytorch" and stage.python == root.python:
        return f"{root.ref}, per the pytorch/pytorch image table"
    return f"stage {stage.label}, {root.ref}"


def check_pip_interpreter(image: Image) -> list[Finding]:
    """Packages installed for another interpreter are invisible to the `python` that runs."""
    out = []
    for stage in image.stages:
        for cmd in stage.pips:
            if not cmd.python or not stage.python or cmd.python == stage.python:
                continue
            where = image.at(cmd.line)
            out.append(
                Finding(
                    "TS301",
                    _error(stage.python_certain),
                    f"pip for Python "
                    f"{cmd.python}, the image's python is {stage.python} "
                    f"({_python_origin(stage)}): the packages land where `python` "
                    "does not look, or the interpreter is missing",
                    f"python -m pip {cmd.subcommand} ... (or python{stage.python} -m pip)",
                    where,
                )
            )
    return out


def check_copy_python(image: Image) -> list[Finding]:
    """cp312 wheels or a 3.12 venv do not import under 3.11 (and the reverse)."""
    out = []
    for stage in image.stages:
        for ref, line in stage.copies_from:
            source = _stage_ref(image.stages, ref)
            if (
                source is None
                or not source.python
                or not stage.python
                or source.python == stage.python
            ):
                continue
            fix = (
                f"FROM python:{stage.python}-slim for stage {source.label}"
                if source.root.kind == "python"
                else f"build stage {source.label} with Python {stage.python}"
            )
            out.append(
                Finding(
                    "TS302",
                    _error(stage.python_certain and source.python_certain),
                    f"COPY --from={ref} brings files built for "
                    f"Python {source.python} into stage {stage.label}, which runs "
                    f"Python {stage.python} ({_python_origin(stage)})",
                    fix,
                    image.at(line),
                )
            )
    return out


def check_python_markers(image: Image) -> list[Finding]:
    """pip skips a line whose marker is false without a word: the package silently goes."""
    python = image.final.python
    if not python:
        return []
    env = _marker_env(python)
    by_name: dict[str, list[Requirement]] = {}
    for req in image.requirements:
        by_name.setdefault(req.name, []).append(req)
    out = []
    for reqs in by_name.values():
        if any(r is a for r in reqs for a in image.active):
            continue
        mentions = [
            r
            for r in reqs
            if r.marker
            and re.search(r"python_(full_)?version", str(r.marker))
            and evaluate_marker(r.marker, env) is False
        ]
        if not mentions:
            continue
        req = mentions[0]
        fix = req.unmarked
        out.append(
            Finding(
                "TS303",
                _error(image.final.python_certain),
                f"every {req.display} "
                "line has a marker that excludes the image's Python "
                f"{python} ({req.marker}): pip installs no {req.display}",
                fix,
                req.where,
            )
        )
    return out


def _exact_versions(reqs: list[Requirement]) -> list[tuple[Requirement, str, Version]]:
    """(requirement, pin as written, its version) for each `==` pin without wildcard."""
    out = []
    for req in reqs:
        for spec in req.specifier:
            version = (
                _version(spec.version)
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


def _pin_fix(
    name: str, reqs: list[Requirement], image: Image, conflict: tuple[Requirement, Requirement, str]
) -> str:
    """One pin that satisfies every line (the base's torch for torch), else keep the first of
    the two conflicting lines and drop the second."""
    if name == "torch" and image.base.kind == "pytorch" and image.base.torch:
        return f"torch=={image.base.torch} in one place; delete the other torch lines"
    for _, pin, version in _exact_versions(reqs):
        if all(r.specifier.contains(version, prereleases=True) for r in reqs):
            return f"{reqs[0].display}=={pin} in one place; delete the other lines"
    keep, drop, _ = conflict
    return f"{keep.unmarked} ({keep.where}); delete {drop} ({drop.where})"


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
            out.append(
                Finding(
                    "TS401",
                    "error",
                    f"{a.display} pins conflict ({places}): {why}; pip cannot satisfy both",
                    _pin_fix(name, reqs, image, conflict),
                    a.where,
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
        )
        for line in image.invalid
    ]


CHECKS = (
    check_base_pinned,
    check_torch_vs_base,
    check_args_vs_tag,
    check_torch_pinned,
    check_tag_understood,
    check_wheel_suffix,
    check_index_cuda,
    check_driver,
    check_published_builds,
    check_pypi_torch,
    check_pip_interpreter,
    check_copy_python,
    check_python_markers,
    check_pins,
    check_unread_files,
    check_invalid_requirements,
)


def analyze(
    dockerfile_text: str,
    requirements: dict[str, str],
    *,
    dockerfile_name: str = "Dockerfile",
    build_args: dict[str, str] | None = None,
    facts: Facts | None = None,
) -> list[Finding]:
    """Every finding for a Dockerfile and the requirement files (name -> text) it installs,
    ordered by code."""
    facts = facts or load_facts()
    try:
        dfs = parse_stages(dockerfile_text, build_args)
    except (ValueError, KeyError) as err:
        message = err.args[0] if err.args else str(err)
        return [
            Finding(
                "TS100",
                "error",
                f"cannot analyse: {message}",
                "give every ARG a FROM line uses a default (or pass --build-arg), close "
                "continuations and heredocs",
                dockerfile_name,
            )
        ]
    image = build_image(dfs, requirements, dockerfile_name, facts)
    findings = [f for check in CHECKS for f in check(image)]
    return sorted(findings, key=lambda f: f.code)


def base_image_problems(
    dockerfile_text: str,
    requirements_text: str,
    cuda_builds: dict[str, tuple[str, ...]] | None = None,
    driver_max_cuda: str | None = None,
) -> list[str]:
    """The trainer image's rules as messages: every preflight finding, plus its own rule that the
    base is the official pytorch/pytorch (its Dockerfile trusts the base's torch build)."""
    default = load_facts()
    facts = Facts(
        driver_max_cuda or default.driver_max_cuda,
        cuda_builds if cuda_builds is not None else default.torch_cuda_builds,
    )
    findings = analyze(
        dockerfile_text,
        {"trainer/requirements.txt": requirements_text},
        dockerfile_name="trainer/Dockerfile",
        facts=facts,
    )
    # One requirements text by design: files it was not given (TS403) are the CLI's concern.
    problems = [f.message for f in findings if f.code != "TS403"]
    if not any(f.code == "TS100" for f in findings):
        base = build_stages(parse_stages(dockerfile_text))[-1].root
        if base.kind != "pytorch":
            problems.append(f"base image {base.repo!r} is not the official pytorch/pytorch")
    return problems


# ----------------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dockerfile", type=Path, default=None, help="the Dockerfile (default trainer/Dockerfile)"
    )
    parser.add_argument(
        "--requirements",
        type=Path,
        nargs="+",
        action="extend",
        default=None,
        help="requirement files pip installs (default trainer/requirements.txt); "
        "the files the Dockerfile installs with -r and those included "
        "with -r are read too",
    )
    parser.add_argument(
        "--build-arg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="as docker build --build-arg: replaces an ARG's default",
    )
    parser.add_argument("--json", action="store_true", help="print the findings as a JSON list")


def _display(path: Path, context: Path) -> str:
    """The path as findings name it: relative to the build context, as COPY sources are."""
    try:
        return Path(os.path.relpath(path, context)).as_posix()
    except ValueError:  # another drive on Windows
        return path.as_posix()


def read_requirement_files(paths: list[Path], context: Path = Path(".")) -> dict[str, str]:
    """The files and, recursively, the files they include with -r/-c that exist on disk, named
    relative to the build context."""
    texts: dict[str, str] = {}
    todo = list(paths)
    while todo:
        path = todo.pop(0)
        name = _display(path, context)
        if name in texts:
            continue
        texts[name] = path.read_text()
        for _, include, _ in parse_requirements(texts[name], name).includes:
            nested = path.parent / include
            if nested.is_file():
                todo.append(nested)
    return texts


def run(args: argparse.Namespace, root: Path | None = None) -> int:
    """The preflight for parsed arguments. `root` is the build context (the current directory
    unless given): default paths resolve against it and findings name files relative to it."""
    root = root or Path(".")
    dockerfile = args.dockerfile or root / "trainer" / "Dockerfile"
    default = root / "trainer" / "requirements.txt"
    paths = list(args.requirements or ([default] if default.is_file() else []))
    build_args = dict(a.partition("=")[::2] for a in args.build_arg)
    try:
        text = dockerfile.read_text()
        # What the Dockerfile installs is checked without being named twice; a file it names
        # that is not in the context stays unread and is reported (TS403).
        paths += [
            root / p for p in installed_requirement_files(text, build_args) if (root / p).is_file()
        ]
        requirements = read_requirement_files(paths, root)
    except OSError as err:
        print(f"preflight: {err}", file=sys.stderr)
        return 2
    name = _display(dockerfile, root)
    findings = analyze(text, requirements, dockerfile_name=name, build_args=build_args)
    errors = sum(f.severity == "error" for f in findings)
    if args.json:
        print(json.dumps([asdict(f) for f in findings], indent=2))
    else:
        for finding in findings:
            print(finding)
        files = ", ".join(requirements) or "no requirements files"
        print(
            f"preflight: {name} with {files}: {errors} error(s), "
            f"{len(findings) - errors} warning(s)"
        )
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m imagebuild.preflight", description=__doc__.split("\n\n", 1)[0]
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
