"""The pip commands of a RUN line (imagebuild.pip_command): options, interpreters, inline
requirements."""

from __future__ import annotations

from imagebuild.pip_command import pip_commands


def test_pip_commands_read_options_and_interpreters():
    run = (
        "--mount=type=cache,target=/root/.cache/pip apt-get update && "
        "PIP_NO_CACHE_DIR=1 python3.12 -m pip install -U --extra-index-url="
        "https://download.pytorch.org/whl/cu130 -rreq.txt -c c.txt 'numpy<2' ./local "
        "torch==2.13.0+cu130; pip3 --no-cache-dir list; uv pip install --python 3.11 x==1"
    )
    first, second = pip_commands(run, 7)
    assert (first.python, first.upgrade, first.line) == ("3.12", True, 7)
    assert first.extra_index_urls == ["https://download.pytorch.org/whl/cu130"]
    assert (first.requirement_files, first.constraint_files) == (["req.txt"], ["c.txt"])
    assert [str(r) for r in first.requirements] == ["numpy<2", "torch==2.13.0+cu130"]
    assert second.python == "3.11" and [r.name for r in second.requirements] == ["x"]
    assert pip_commands('python -c "import pip; print(1)"') == []
