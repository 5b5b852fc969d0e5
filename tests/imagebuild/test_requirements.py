"""Requirements files and environment markers (imagebuild.requirements)."""

from __future__ import annotations

from packaging.markers import Marker
from packaging.specifiers import SpecifierSet

from imagebuild import preflight
from imagebuild.requirements import evaluate_marker, parse_requirements


def test_requirements_files():
    parsed = parse_requirements(
        "# top\n-r base.txt\n--extra-index-url https://download.pytorch.org/whl/cu130\n"
        "Torch_Vision[extra] == 0.28.0 \\\n  --hash=sha256:abc  # pinned\n"
        "numpy>=1.26,<3; python_version >= '3.11'\nmy-pkg @ https://x/y.whl\n-e .\n",
        "r.txt",
    )
    assert parsed.includes == [("-r", "base.txt", 2)]
    assert parsed.extra_index_urls == [("https://download.pytorch.org/whl/cu130", 3)]
    tv, np_, pkg = parsed.requirements
    assert (tv.name, tv.display, tv.parsed.extras, tv.exact, tv.line) == (
        "torch-vision",
        "Torch_Vision",
        {"extra"},
        "0.28.0",
        4,
    )
    assert np_.specifier == SpecifierSet(">=1.26,<3")
    assert np_.marker == Marker("python_version >= '3.11'")
    assert np_.unmarked == "numpy>=1.26,<3"  # as written, for findings to quote
    assert pkg.url == "https://x/y.whl" and not pkg.specifier


def test_markers_are_three_valued():
    env = {
        **preflight.MARKER_ENV,
        "python_version": "3.11",
        "platform_machine": None,
        "python_full_version": None,
    }

    def value(marker: str) -> bool | None:
        return evaluate_marker(Marker(marker), env)

    assert value('python_version < "3.12" and sys_platform == "linux"') is True
    assert value("python_version >= '3.12' or sys_platform == 'win32'") is False
    assert value("platform_machine == 'aarch64'") is None  # unknown, not false
    # False whatever the unknown part says: pip skips the line on this Python.
    assert value("python_version == '3.12' and platform_machine == 'x'") is False
    assert value("python_version == '3.11' or platform_machine == 'x'") is True
    assert (
        value("(python_version == '3.12' and platform_machine == 'x') or '3.1' in python_version")
        is True
    )
    # The patch release is unknown too: 3.11.x may or may not be >= 3.11.4; never 3.12.0.
    assert value("python_full_version >= '3.11.4'") is None
    assert value("python_full_version >= '3.12.0'") is False
    assert value("platform_release >= '6'") is None  # the build host's, not the image's
