"""The README and docs/ stay true to the repository: links resolve, the fresh-machine block
keeps its two commands, every `trainstack <command>` they show is a real subcommand, the README stays a page.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 150

FENCE = re.compile(r"^```.*?^```[ \t]*$", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]+`")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.M)


def _prose(text: str) -> str:
    """The text outside code, where markdown links are links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def _code(text: str) -> list[str]:
    """Fenced blocks and inline code spans: where the docs show commands."""
    blocks = FENCE.findall(text)
    return blocks + INLINE_CODE.findall(FENCE.sub("", text))


def _anchor(heading: str) -> str:
    """GitHub's heading id: lowercase, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text.replace("`", ""))
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text())):
        base, n = _anchor(heading), 0
        while (candidate := base if n == 0 else f"{base}-{n}") in found:
            n += 1
        found.add(candidate)
    return found


def _relative_links(page: Path) -> list[str]:
    return [
        t for t in LINK.findall(_prose(page.read_text())) if not re.match(r"^[a-z][a-z0-9+.-]*:", t)
    ]  # http:, https:, mailto: are not ours


def test_anchor_rule_matches_github():
    assert (
        _anchor("What is verified offline, and what only a real `pulumi up` shows")
        == "what-is-verified-offline-and-what-only-a-real-pulumi-up-shows"
    )
    assert _anchor("status, logs and diagnose") == "status-logs-and-diagnose"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path):
    broken = []
    for target in _relative_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(
                f"{target}: no file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}"
            )
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_readme_links_every_docs_page():
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in _relative_links(README)}
    missing = [p.name for p in PAGES[1:] if p.resolve() not in linked]
    assert not missing, f"README.md links no docs/{missing}"


def test_readme_fresh_machine_block_is_make_demo_and_make_test():
    text = README.read_text()
    section = re.search(r"^## On a fresh machine\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "README.md has no '## On a fresh machine' section"
    block = re.search(r"^```(?:sh|bash|console)?\n(.*?)^```", section.group(1), re.S | re.M)
    assert block, "the fresh-machine section has no code block"
    commands = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    assert [c for c in commands if c] == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no `{target}` target"


def test_readme_is_one_page():
    n = len(README.read_text().splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines; move detail into docs/"


@functools.lru_cache(maxsize=1)
def _cli_commands() -> frozenset[str]:
    """The subcommands of `python -m trainstack`, from its own --help (the parser is built inside
    main(), so its usage line is the stable view of it)."""
    done = subprocess.run(
        [sys.executable, "-m", "trainstack", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    choices = re.search(r"\{([a-z][a-z0-9_,-]*)\}", re.sub(r"\s+", "", done.stdout))
    assert choices, done.stdout
    return frozenset(choices.group(1).split(","))


def test_every_trainstack_command_the_docs_show_exists():
    commands = _cli_commands()
    assert {"plan", "preflight", "doctor", "status", "logs", "cost"} <= commands
    unknown = []
    for page in PAGES:
        for code in _code(page.read_text()):
            for name in re.findall(r"(?<![\w.:-])trainstack ([a-z][a-z-]*)", code):
                if name not in commands:
                    unknown.append(f"{page.relative_to(ROOT)}: trainstack {name}")
    assert not unknown, f"not subcommands of {sorted(commands)}: {unknown}"


def test_layout_names_every_cli_command_and_only_existing_files():
    text = (ROOT / "docs" / "internals.md").read_text()
    layout = re.search(r"^## Layout\n+```\n(.*?)^```", text, re.S | re.M)
    assert layout, "docs/internals.md has no layout block"
    block = layout.group(1)
    cli_line = re.search(r"cli/ \(([^)]*)\)", block, re.S)
    assert cli_line, "the layout does not describe trainstack/cli/'s commands"
    listed = set(re.findall(r"[a-z]+", cli_line.group(1)))
    assert _cli_commands() <= listed, f"layout lists {sorted(listed)}"
    names = re.findall(r"(?<![\w./-])[\w./-]+\.(?:py|yaml|yml|txt)\b", block)
    missing = [
        name
        for name in names
        if not ((ROOT / name).exists() if "/" in name else any(ROOT.glob(f"**/{name}")))
    ]
    assert not missing, f"the layout names files that do not exist: {missing}"


@pytest.mark.parametrize("stack_file", sorted(ROOT.glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_example_stacks_idle_at_zero_gpu_nodes_as_the_docs_say(stack_file: Path):
    """README and docs/deploying.md: both example stacks idle with zero GPU nodes."""
    import yaml

    from components import config

    raw = yaml.safe_load(stack_file.read_text())["config"]
    data = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("trainstack:")}
    cfg = config.parse(data, raw.get("aws:region") or "us-west-2")
    running = [
        f"nodeGroups.{n}: {g.desired} nodes"
        for n, g in cfg.node_groups.items()
        if g.role == "gpu" and g.desired > 0
    ]
    running += [
        f"trainingJobs.{n}: not suspended" for n, j in cfg.training_jobs.items() if not j.suspend
    ]
    running += ["devPod: enabled"] if cfg.dev_pod.enabled else []
    assert not running, f"{stack_file.name} starts GPU nodes on `pulumi up`: {running}"
