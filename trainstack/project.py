"""Where the project is (the folder holding Pulumi.yaml) and which version of it this is.

One lookup for every command that reads the project (plan, cost, preflight), so that none of them
works from one folder and fails from another.
"""

from __future__ import annotations

from pathlib import Path

DISTRIBUTION = "trainstack"  # [project] name in pyproject.toml


class ProjectNotFound(LookupError):
    """No Pulumi.yaml in the folder or above it; the message is one line for the user."""


def find_root(start: Path | None = None) -> Path:
    """The nearest directory holding Pulumi.yaml, from `start` (default: the current directory)
    upwards."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    raise ProjectNotFound(
        f"no Pulumi.yaml in {here} or any folder above it: run it inside the "
        "trainstack project or pass --project-dir"
    )


def package_version() -> str:
    """The installed distribution's version; from a checkout that was never pip-installed, the
    version in its pyproject.toml."""
    from importlib import metadata

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pass
    try:
        import tomllib  # Python 3.11+
    except ModuleNotFoundError:  # 3.10 without an install: nothing to read it with
        return "unknown"
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    try:
        return tomllib.loads(pyproject.read_text())["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"
