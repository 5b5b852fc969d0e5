"""Helpers several test packages share (tests/ is on pytest's pythonpath, see pyproject)."""

import shutil
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def project_copy(tmp_path: Path, stack_edit=None, text: str | None = None) -> Path:
    """A project folder holding the Pulumi program and `Pulumi.bad.yaml`: the dev stack edited
    by `stack_edit(config)`, or `text` as is."""
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    if text is not None:
        (tmp_path / "Pulumi.bad.yaml").write_text(text)
    else:
        data = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
        stack_edit(data["config"])
        (tmp_path / "Pulumi.bad.yaml").write_text(yaml.safe_dump(data))
    return tmp_path
