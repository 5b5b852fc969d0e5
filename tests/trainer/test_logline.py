"""trainer/logline.py: each line the trainer writes reads back to the values it was written from,
behind the prefixes torchrun, Ray and log shippers add; and trainstack reads them only through it."""

from __future__ import annotations

import ast
import dataclasses
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from trainer import logline

ROOT = Path(__file__).resolve().parents[2]
ESC = "\x1b"

# Values at the precision the line prints them, so a round trip gives them back exactly.
PROGRESS = logline.Progress(
    step=20,
    max_steps=200,
    loss=3.1416,
    tokens_per_s=16384.0,
    tokens_per_s_per_device=4096.0,
    tflops_per_device=0.0983,
    mfu=0.412,
    data_share=0.03,
    mem_gib=1.25,
    eta_s=90.0,
    mfu_peak="measured",
)
LINES = [
    PROGRESS,
    logline.Validation(20, 3.1),
    logline.Checkpoint(20, "/checkpoints/llm/checkpoints/step_00000020"),
    logline.Resumed(100, "/checkpoints/llm/checkpoints/step_00000100", 8),
    logline.SigtermSaved(230),
]


def same(parsed, written) -> bool:
    """Equal field by field, floats to within the float error of printing a percentage."""
    if type(parsed) is not type(written):
        return False
    a, b = dataclasses.asdict(parsed), dataclasses.asdict(written)
    return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)


def _close(x, y) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return math.isclose(x, y, rel_tol=1e-9) or (math.isnan(x) and math.isnan(y))
    return x == y and type(x) is type(y)


def test_every_progress_field_is_in_the_example():
    # A new field is then covered by the round trips below, or this fails first.
    assert all(getattr(PROGRESS, f.name) is not None for f in dataclasses.fields(PROGRESS))


@pytest.mark.parametrize("written", LINES, ids=lambda x: type(x).__name__)
def test_round_trip(written):
    text = written.format()
    assert same(logline.parse(text), written), text


@pytest.mark.parametrize(
    "prefix",
    [
        "[default0]:",  # torchrun --tee
        f"{ESC}[36m(RayTrainWorker pid=16960){ESC}[0m ",  # Ray's worker prefix, coloured
        "(RayTrainWorker pid=311, ip=10.0.2.9) ",
        "2026-11-25T09:12:41.102Z stdout F ",  # a log shipper's CRI line
    ],
)
@pytest.mark.parametrize("written", LINES, ids=lambda x: type(x).__name__)
def test_round_trip_behind_a_prefix(written, prefix):
    assert same(logline.parse(prefix + written.format()), written)


@pytest.mark.parametrize(
    "field", [f.name for f in dataclasses.fields(logline.Progress)][3:], ids=str
)
def test_each_progress_field_reads_back_alone(field):
    """Every optional segment is written and read on its own: a field added to format() but
    not to the parser (or the other way round) fails here."""
    written = logline.Progress(7, 12, 2.5, **{field: getattr(PROGRESS, field)})
    if field == "tokens_per_s_per_device":  # printed inside the tok/s segment only
        written = dataclasses.replace(written, tokens_per_s=PROGRESS.tokens_per_s)
    assert same(logline.parse(written.format()), written), written.format()


def test_unknown_eta_and_loss():
    text = logline.Progress(5, 10, math.nan, eta_s=math.nan).format()
    assert text == "step  5/10 | loss nan | ETA ?"
    parsed = logline.parse(text)
    assert math.isnan(parsed.loss) and math.isnan(parsed.eta_s) and parsed.tokens_per_s is None


def test_a_newer_trainers_extra_segment_is_skipped():
    line = PROGRESS.format().replace(" | MFU", " | grad 0.52 | MFU")
    assert same(logline.parse(line), PROGRESS)


def test_large_throughput_in_exponent_form():
    written = dataclasses.replace(PROGRESS, tflops_per_device=1230.0, tokens_per_s=1234567.0)
    assert "1.23e+03 TFLOP/s/dev" in written.format()
    assert same(logline.parse(written.format()), written)


@pytest.mark.parametrize(
    "line",
    [
        "trainer: preset tiny, 1.2M parameters, 1 rank(s) on cpu (gloo)",
        "llama-1b-worker-0:37:90 [0] NCCL INFO Channel 00/02 :    0   1   2   3",
        "trainer: checkpoint /checkpoints/llm/weights.pt",  # no step_ directory: not a checkpoint
        "Tailing logs until the job exits (disable with --no-wait):",
        "",
    ],
)
def test_other_lines(line):
    assert logline.parse(line) is None


def test_checkpoint_step_is_read_as_checkpoint_names_it():
    pytest.importorskip("torch")  # trainer.checkpoint imports it
    from trainer.checkpoint import step_name

    path = f"/ckpt/{step_name(1234)}"
    assert logline.parse(f"trainer: checkpoint {path}") == logline.Checkpoint(1234, path)


def test_the_cli_reads_lines_without_torch():
    code = "import sys, trainstack.ops.jobs; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    # trainstack.ops.jobs may pull in torch through other imports some day; logline must not.
    code = "import sys, trainer.logline; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


# Words only the trainer's own lines hold. A regex in trainstack that spells one is a second copy
# of trainer/logline.py's format, which a change made there would silently break.
TRAINER_WORDS = ("tok/s", "MFU", "ETA", "loss", "trainer: ", "resumed from", "SIGTERM: saved")


def _regex_literals(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "re"
            and node.args
        ):
            for part in ast.walk(node.args[0]):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    yield node.lineno, part.value


def test_trainstack_reads_the_trainers_lines_only_through_logline():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {pattern}"
        for path in sorted((ROOT / "trainstack").rglob("*.py"))
        for line, pattern in _regex_literals(path)
        if any(word in pattern for word in TRAINER_WORDS)
    ]
    assert found == []


def test_the_word_scan_finds_a_copy_of_the_format(tmp_path):
    """The scan above is not vacuous: the regexes jobs.py held before logline.py are caught."""
    copy = tmp_path / "jobs.py"
    copy.write_text(
        "import re\n"
        r'_STEP = re.compile(r"\bstep\s+(?P<step>\d+)/(?P<total>\d+)\s*\|\s*loss\s+(\S+)")'
        "\n"
        r'_CKPT = re.compile(r"trainer: (?:checkpoint|resumed from) (?P<path>\S*step_\d+)")'
        "\n"
    )
    hits = [p for _, p in _regex_literals(copy) if any(w in p for w in TRAINER_WORDS)]
    assert len(hits) == 2
    assert re.search(hits[0], PROGRESS.format())  # and it does match the trainer's line
