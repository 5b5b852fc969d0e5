"""The trainer's GPU image, checked offline: trainer/Dockerfile, trainer/requirements.txt and the
repository's .dockerignore against the version facts in imagebuild/cuda_versions.py.

No Docker engine is needed: the Dockerfile is read by imagebuild.dockerfile (the parser the
CodeBuild preflight uses too) and the torch/CUDA/driver rules are imagebuild.preflight's; the
.dockerignore matching below covers what this repository's file uses.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imagebuild.dockerfile import parse_dockerfile, split_image, substitute
from imagebuild.preflight import base_image_problems

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "trainer" / "Dockerfile"
REQUIREMENTS = ROOT / "trainer" / "requirements.txt"
DOCKERIGNORE = ROOT / ".dockerignore"

_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


# --- the checks ---------------------------------------------------------------------------------


def final_user_problems(dockerfile_text: str) -> list[str]:
    users = [rest for keyword, rest in parse_dockerfile(dockerfile_text).steps if keyword == "USER"]
    if not users:
        return ["no USER instruction: the container runs as root"]
    user = users[-1].split(":", 1)[0].strip()
    if user in ("root", "0", ""):
        return [f"final USER {users[-1]!r} is root"]
    return []


def efa_problems(dockerfile_text: str) -> list[str]:
    df = parse_dockerfile(dockerfile_text)
    version = df.args.get("EFA_INSTALLER_VERSION")
    problems = []
    if version is None or not _SEMVER.match(version):
        problems.append(f"ARG EFA_INSTALLER_VERSION={version} is not a pinned X.Y.Z release")
    runs = " ".join(rest for keyword, rest in df.steps if keyword == "RUN")
    url = "https://efa-installer.amazonaws.com/aws-efa-installer-${EFA_INSTALLER_VERSION}.tar.gz"
    if url not in runs:
        problems.append("no RUN downloads the installer named by EFA_INSTALLER_VERSION")
    for flag in ("--skip-kmod", "--skip-limit-conf", "--no-verify"):
        if flag not in runs:
            problems.append(f"efa_installer.sh runs without {flag}")
    if "FI_EFA_USE_DEVICE_RDMA" in dockerfile_text:
        problems.append("FI_EFA_USE_DEVICE_RDMA is set, g4dn/g5 have no GPUDirect RDMA")
    return problems


# The EFA installer signing key, as the EC2 user guide publishes it ("Get started with EFA and
# NCCL", step "Verify the GPG key's fingerprint":
# 4E90 91BC BB97 A96B 26B1 5E59 A054 80B1 DD2D 3CCC).
EFA_KEY_FINGERPRINT = "4E9091BCBB97A96B26B15E59A05480B1DD2D3CCC"


def efa_download_problems(dockerfile_text: str) -> list[str]:
    """The installer tarball is verified before it is unpacked: its detached signature checks,
    and the signing key is the pinned AWS one (the key file comes from the same host, so only the
    fingerprint makes the check worth anything). Everything in one `set -e` RUN, in that order."""
    df = parse_dockerfile(dockerfile_text)
    fingerprint = df.args.get("EFA_INSTALLER_GPG_FINGERPRINT")
    problems = []
    if fingerprint != EFA_KEY_FINGERPRINT:
        problems.append(
            f"ARG EFA_INSTALLER_GPG_FINGERPRINT={fingerprint} is not AWS's EFA "
            f"installer key {EFA_KEY_FINGERPRINT}"
        )
    run = next((rest for k, rest in df.steps if k == "RUN" and "efa_installer.sh" in rest), "")
    if not run.lstrip().startswith("set -e"):
        problems.append(
            "the EFA RUN does not start with `set -e`: a failed check would not stop it"
        )
    tarball = "aws-efa-installer-${EFA_INSTALLER_VERSION}.tar.gz"

    def at(pattern: str) -> int:
        m = re.search(pattern, run)
        return m.start() if m else -1

    steps = {
        "download the signature": at(
            re.escape(f"https://efa-installer.amazonaws.com/{tarball}.sig")
        ),
        "verify the signature": at(
            r"gpg [^;]*--verify [^;]*"
            + re.escape(f'{tarball}.sig"')
            + r"[^;]*"
            + re.escape(f'"{tarball}"')
        ),
        "match the signer to the pinned fingerprint": at(
            r"grep [^;]*VALIDSIG[^;]*\$\{EFA_INSTALLER_GPG_FINGERPRINT\}"
        ),
        "unpack": at(r"tar -x[^;]*" + re.escape(tarball)),
        "install": at(r"efa_installer\.sh"),
    }
    for name, pos in steps.items():
        if pos < 0:
            problems.append(f"the EFA RUN does not {name}")
    found = [pos for pos in steps.values() if pos >= 0]
    if len(found) == len(steps) and found != sorted(found):
        problems.append("the EFA RUN unpacks or installs before the signature and signer check")
    return problems


def cudart_problems(dockerfile_text: str) -> list[str]:
    """aws-ofi-nccl dlopens the bare "libcudart.so" (aws-ofi-nccl v1.21.1 src/nccl_ofi_cuda.cpp):
    the image must link it, found from the installed torch, into a directory on LD_LIBRARY_PATH
    after the last pip install, and check at build time that the bare name loads."""
    df = parse_dockerfile(dockerfile_text)
    steps = df.steps
    problems = []
    link = next(
        (
            i
            for i, (k, rest) in enumerate(steps)
            if k == "RUN" and "-m trainer.efa link-cudart" in rest
        ),
        None,
    )
    if link is None:
        return ["no RUN links libcudart.so (python -m trainer.efa link-cudart DIR)"]
    rest = steps[link][1]
    target = rest.split("link-cudart", 1)[1].split(";")[0].split()[0]
    env = " ".join(r for k, r in steps if k == "ENV")
    ld_path = re.search(r"LD_LIBRARY_PATH=(\S+)", env)
    # The directories before the inherited value (`${LD_LIBRARY_PATH:+:...}`).
    if not ld_path or target not in re.sub(r"\$\{.*", "", ld_path.group(1)).split(":"):
        problems.append(f"{target} (the libcudart.so link) is not on LD_LIBRARY_PATH")
    if "site-packages" in rest or "libcudart.so." in rest:
        problems.append(
            "the libcudart path is hard-coded instead of found from the installed torch"
        )
    pips = [i for i, (k, r) in enumerate(steps) if k == "RUN" and "pip install" in r]
    if pips and pips[-1] > link:
        problems.append("a pip install runs after the libcudart link (it may replace torch's CUDA)")
    copied = any(
        k == "COPY" and "trainer/efa.py" in r and "trainer/__init__.py" in r
        for k, r in steps[:link]
    )
    if not copied and not any(k == "COPY" and r.startswith("trainer/ ") for k, r in steps[:link]):
        problems.append("trainer/efa.py is not copied before the link step runs it")
    checked = any(
        k == "RUN" and "CDLL('libcudart.so')" in r.replace('"', "'") for k, r in steps[link:]
    )
    if not checked:
        problems.append("no build-time check that ctypes.CDLL('libcudart.so') loads")
    return problems


# --- .dockerignore ------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as the Docker client reads it: `**` spans directories, `*` and `?`
    stay within one path element, the leading/trailing `/` are dropped."""
    pattern = pattern.strip("/")
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
            continue
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
            continue
        out += "[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c)
        i += 1
    return re.compile(f"^{out}$")


def ignore_rules(dockerignore_text: str) -> list[tuple[bool, re.Pattern]]:
    rules = []
    for line in dockerignore_text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        rules.append((negated, _pattern_regex(line[1:].strip() if negated else line)))
    return rules


def is_sent(path: str, rules: list[tuple[bool, re.Pattern]]) -> bool:
    """The last rule matching the path or one of its parent directories decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for negated, rx in rules:
        if any(rx.match(c) for c in candidates):
            excluded = not negated
    return not excluded


MUST_SEND = (
    "trainer/__init__.py",
    "trainer/__main__.py",
    "trainer/model.py",
    "trainer/requirements.txt",
    "trainer/selftest.py",
    "trainer/sub/module.py",
    "jobwatch/__main__.py",
    "jobwatch/diagnose/causes.py",
)
MUST_NOT_SEND = (
    ".venv/bin/python",
    "tests/test_cli.py",
    "tests/trainer/conftest.py",
    ".git/HEAD",
    "build/plan/dev.json",
    "pyproject.toml",
    "components/versions.py",
    "Pulumi.dev.yaml",
    "trainer/__pycache__/model.cpython-311.pyc",
    "trainer/sub/__pycache__/x.cpython-311.pyc",
    "trainer/stray.pyc",
    "trainer/checkpoints/step_00000004/weights.pt",
    "trainer/runs/latest/loss.png",
    "jobwatch/__pycache__/watcher.cpython-311.pyc",
)


def context_problems(dockerignore_text: str) -> list[str]:
    rules = ignore_rules(dockerignore_text)
    return [f"{p} is left out of the build context" for p in MUST_SEND if not is_sent(p, rules)] + [
        f"{p} is sent to the build context" for p in MUST_NOT_SEND if is_sent(p, rules)
    ]


# --- tests --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return DOCKERFILE.read_text()


@pytest.fixture(scope="module")
def requirements() -> str:
    return REQUIREMENTS.read_text()


def with_arg(text: str, name: str, value: str) -> str:
    new, n = re.subn(rf"^ARG {name}=.*$", f"ARG {name}={value}", text, flags=re.MULTILINE)
    assert n == 1, f"expected exactly one 'ARG {name}=' line"
    return new


def test_base_image_matches_requirements_and_nodes(dockerfile, requirements):
    df = parse_dockerfile(dockerfile)
    assert df.base == (
        f"pytorch/pytorch:{df.args['TORCH_VERSION']}-cuda{df.args['CUDA_VERSION']}-cudnn9-runtime"
    )
    assert base_image_problems(dockerfile, requirements) == []


@pytest.mark.parametrize(
    "edit, requirements_text, expected",
    [
        (lambda t: with_arg(t, "CUDA_VERSION", "13.1"), None, "ships no CUDA 13.1 build"),
        (lambda t: with_arg(t, "CUDA_VERSION", "13.1"), None, "newer than the node driver"),
        # Shipped by torch 2.13, but the 580 driver stops at 13.0.
        (lambda t: with_arg(t, "CUDA_VERSION", "13.2"), None, "newer than the node driver"),
        (lambda t: with_arg(t, "TORCH_VERSION", "2.12.0"), None, "pins torch==2.13.0"),
        (lambda t: t, "numpy>=1.26\ntorch==2.12.0\n", "pins torch==2.12.0"),
        (lambda t: t, "torch>=2.13\n", "torch is not pinned"),
        (
            lambda t: with_arg(t, "TORCH_VERSION", "2.99.0"),
            "torch==2.99.0\n",
            "no TORCH_CUDA_BUILDS",
        ),
        (
            lambda t: re.sub(
                r"^FROM .*$", "FROM pytorch/pytorch:2.13.0-cuda12.6-cudnn9-runtime", t, flags=re.M
            ),
            None,
            "tag CUDA 12.6 != ARG CUDA_VERSION 13.0",
        ),
        (
            lambda t: re.sub(r"^FROM .*$", "FROM pytorch/pytorch:latest", t, flags=re.M),
            None,
            "not pinned",
        ),
        (lambda t: re.sub(r"^FROM .*$", "FROM pytorch/pytorch", t, flags=re.M), None, "not pinned"),
        (
            lambda t: re.sub(
                r"^FROM .*$", "FROM nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04", t, flags=re.M
            ),
            None,
            "not the official pytorch/pytorch",
        ),
    ],
)
def test_mismatched_base_image_is_rejected(
    dockerfile, requirements, edit, requirements_text, expected
):
    problems = base_image_problems(edit(dockerfile), requirements_text or requirements)
    assert any(expected in p for p in problems), problems


def test_final_user_is_not_root(dockerfile):
    assert final_user_problems(dockerfile) == []
    assert final_user_problems(dockerfile + "\nUSER root\n")
    assert final_user_problems(dockerfile + "\nUSER 0:0\n")
    assert final_user_problems(re.sub(r"^USER .*$", "", dockerfile, flags=re.M))


def test_efa_download_is_verified_before_it_is_unpacked(dockerfile):
    assert efa_download_problems(dockerfile) == []
    verify = re.compile(r"\n\s*gpg --batch --status-fd 1 --verify .*?> gpg-status; \\\n", re.S)
    assert verify.search(dockerfile)
    signer = re.compile(r"\n\s*grep -Eq .*VALIDSIG.*\n")
    assert signer.search(dockerfile)
    # Each way of weakening it is caught.
    assert efa_download_problems(verify.sub("\n", dockerfile))
    assert efa_download_problems(signer.sub("\n", dockerfile))
    assert efa_download_problems(with_arg(dockerfile, "EFA_INSTALLER_GPG_FINGERPRINT", "0" * 40))
    assert efa_download_problems(
        dockerfile.replace("set -eux; \\\n    export DEBIAN", "true; \\\n    export DEBIAN")
    )
    moved = dockerfile.replace(
        '    tar -xf "aws-efa-installer-${EFA_INSTALLER_VERSION}.tar.gz" '
        "--strip-components=1; \\\n",
        "",
    )
    assert moved != dockerfile
    moved = moved.replace(
        "    gpg --batch --import",
        '    tar -xf "aws-efa-installer-'
        '${EFA_INSTALLER_VERSION}.tar.gz" --strip-components=1; \\\n'
        "    gpg --batch --import",
    )
    assert any("before the signature" in p for p in efa_download_problems(moved))


def test_efa_installer_is_pinned(dockerfile):
    assert efa_problems(dockerfile) == []
    assert efa_problems(with_arg(dockerfile, "EFA_INSTALLER_VERSION", "latest"))
    assert efa_problems(dockerfile.replace("--skip-kmod", ""))
    assert efa_problems(dockerfile + "\nENV FI_EFA_USE_DEVICE_RDMA=1\n")


def test_cuda_runtime_is_loadable_by_its_bare_name(dockerfile):
    assert cudart_problems(dockerfile) == []
    no_link = re.sub(r"\n.*-m trainer\.efa link-cudart.*\n", "\n    true; \\\n", dockerfile)
    assert "no RUN links libcudart.so" in cudart_problems(no_link)[0]
    off_path = dockerfile.replace(":/opt/trainstack/lib$", "$")
    assert any("not on LD_LIBRARY_PATH" in p for p in cudart_problems(off_path))
    unchecked = dockerfile.replace("ctypes.CDLL('libcudart.so'); ", "")
    assert any("no build-time check" in p for p in cudart_problems(unchecked))
    late_pip = dockerfile.replace(
        "COPY trainer/ /opt/trainstack/trainer/\n",
        "RUN python -m pip install x\nCOPY trainer/ /opt/trainstack/trainer/\n",
    )
    assert any("pip install runs after" in p for p in cudart_problems(late_pip))


def test_requirements_install_before_the_source_copy(dockerfile):
    steps = parse_dockerfile(dockerfile).steps
    pos = {
        label: next(i for i, (k, rest) in enumerate(steps) if k == kw and needle in rest)
        for label, kw, needle in [
            ("requirements", "COPY", "requirements.txt"),
            ("pip", "RUN", "pip install"),
            ("torch check", "RUN", "torch.version.cuda"),
            ("source", "COPY", "trainer/ /opt/trainstack/trainer"),
        ]
    }
    assert pos["requirements"] < pos["pip"] < pos["torch check"] < pos["source"], pos


def test_trainer_importable_from_any_directory(dockerfile):
    steps = parse_dockerfile(dockerfile).steps
    env = " ".join(rest for k, rest in steps if k == "ENV")
    assert "PYTHONPATH=/opt/trainstack" in env and "PYTHONUNBUFFERED=1" in env
    cmd = '["python", "-m", "trainer.selftest", "--level", "standard", "--expect-cuda"]'
    assert ("CMD", cmd) in steps
    assert [rest for k, rest in steps if k == "WORKDIR"][-1] == "/workspace"


def test_dockerignore_sends_only_the_trainer():
    assert context_problems(DOCKERIGNORE.read_text()) == []
    # Every file of the trainer package as it is on disk now goes through.
    rules = ignore_rules(DOCKERIGNORE.read_text())
    for path in [*(ROOT / "trainer").rglob("*"), *(ROOT / "jobwatch").rglob("*")]:
        rel = path.relative_to(ROOT).as_posix()
        if path.is_file() and "__pycache__" not in rel and rel != "trainer/Dockerfile":
            assert is_sent(rel, rules), rel


@pytest.mark.parametrize(
    "text, expected",
    [
        (".venv\n.git\n", "tests/test_cli.py is sent"),  # a deny-list forgets things
        ("*\n", "trainer/model.py is left out"),
        ("*\n!trainer/\n", "trainer/__pycache__/model.cpython-311.pyc is sent"),
        ("*\n!trainer/**/*.py\n", "trainer/requirements.txt is left out"),
    ],
)
def test_weak_dockerignore_is_rejected(text, expected):
    problems = context_problems(text)
    assert any(expected in p for p in problems), problems


def test_substitution_and_image_helpers():
    assert substitute("a${X}b$Y${Z:-d}${X:+w}", {"X": "1", "Y": "2"}) == "a1b2dw"
    with pytest.raises(KeyError):
        substitute("${MISSING}", {})
    assert split_image("registry:5000/pytorch/pytorch") == ("registry:5000/pytorch/pytorch", None)
    assert split_image("pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime@sha256:ab") == (
        "pytorch/pytorch",
        "2.13.0-cuda13.0-cudnn9-runtime",
    )
