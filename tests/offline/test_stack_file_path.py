"""A stack file read from any path (trainstack/offline/stack_config.py load_stack_file): the base
branch's copy a CI job writes to a temp file is read by the same rules as Pulumi.<stack>.yaml."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from trainstack.offline.stack_config import StackFileError, load_stack_config, load_stack_file

ROOT = Path(__file__).resolve().parents[2]


def test_any_file_name_reads_like_the_stack_file(tmp_path: Path):
    base = tmp_path / "base.yaml"
    shutil.copy(ROOT / "Pulumi.dev.yaml", base)
    by_path = load_stack_file(base, "dev")
    by_stack = load_stack_config(ROOT, "dev")
    assert by_path.config == by_stack.config
    assert by_path.secret_keys == by_stack.secret_keys
    assert by_path.path == base and by_path.stack == "dev"


def test_missing_file_names_its_path(tmp_path: Path):
    with pytest.raises(StackFileError, match="base.yaml not found"):
        load_stack_file(tmp_path / "base.yaml")


def test_the_same_rules_apply_duplicates_and_secrets(tmp_path: Path):
    base = tmp_path / "base.yaml"
    base.write_text(
        textwrap.dedent("""\
        config:
          trainstack:hfToken: {secure: AAEA}
          aws:region: us-west-2
          aws:region: eu-west-1
        """)
    )
    with pytest.raises(StackFileError, match="duplicate key aws:region at line 4"):
        load_stack_file(base)
    base.write_text("config:\n  trainstack:hfToken: {secure: AAEA}\n")
    sc = load_stack_file(base)
    assert sc.secret_keys == ["trainstack:hfToken"]
    assert sc.config["trainstack:hfToken"].startswith("offline-secret-")
