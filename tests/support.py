"""Helpers several test packages share (tests/ is on pytest's pythonpath, see pyproject)."""

import copy
import functools
import json
import shutil
from pathlib import Path

import pytest
import yaml

from trainstack.offline import plan as offline_plan
from trainstack.offline.secrets import unwrap_secrets

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def _plan(stack: str, overrides: str) -> offline_plan.PlanResult:
    return offline_plan.run(ROOT, stack, overrides=json.loads(overrides))


def plan(stack: str = "dev", **overrides) -> offline_plan.PlanResult:
    """The offline plan of `stack` with config edits (`__` stands for `.` in key paths), computed
    once per stack and edits for the whole session."""
    edits = {k.replace("__", "."): v for k, v in overrides.items()}
    return _plan(stack, json.dumps(edits, sort_keys=True))


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


def stack_data(stack: str) -> tuple[dict, str]:
    """An example stack's `trainstack:*` values (keys without the namespace) and its region."""
    raw = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    data = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("trainstack:")}
    return data, raw["aws:region"]


class _Delete:
    """set_path's value that removes the key; a stable repr keeps test ids the same in every
    process (pytest-xdist compares the collections)."""

    def __repr__(self) -> str:
        return "DELETE"


DELETE = _Delete()


def set_path(data: dict, path: str, value):
    """Set (or with DELETE remove) the value at a dotted config path, making parents."""
    *parents, last = path.split(".")
    node = data
    for p in parents:
        node = node.setdefault(p, {})
    if value is DELETE:
        node.pop(last)
    else:
        node[last] = value


def assert_rejected_naming_the_key(dev: dict, path: str, value, key: str, allowed: str):
    """The dev stack with `path` set to `value` fails with exactly one issue, which names `key`
    and says `allowed` (what the key accepts)."""
    from components import config

    data = copy.deepcopy(dev)
    set_path(data, path, value)
    with pytest.raises(config.ConfigError) as err:
        config.parse(data, "us-west-2")
    lines = [i for i in err.value.issues if i.startswith(key)]
    assert lines, f"no issue names {key}: {err.value.issues}"
    assert any(allowed in line for line in lines), lines
    assert len(err.value.issues) == 1, err.value.issues  # one message per problem, no noise


def inputs(result, type_, name=None) -> dict:
    """A planned resource's inputs, secrets unwrapped."""
    return unwrap_secrets(result.plan.one(type_, name).inputs)


def state(result, type_, name=None) -> dict:
    return unwrap_secrets(result.plan.one(type_, name).state)
