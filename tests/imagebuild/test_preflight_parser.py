"""PEP 440 as packaging reads it, in the preflight's verdicts: the cases the hand-written comparator
got wrong, and a requirement pip refuses."""

from __future__ import annotations

import pytest
from preflight_cases import FACTS, GOOD_REQS, REQS, image

from imagebuild.preflight import analyze

# The hand-written PEP 440 code this module had before packaging: the cases, as the
# preflight's verdict on a package pinned in two places. (id, lines, its old codes, the right ones)
PEP440_CASES = [
    (
        "2.14.0.dev0 does not satisfy <2.14 (PEP 440: no pre-release of the bound itself)",
        "numpy==2.14.0.dev0\nnumpy<2.14\n",
        ["TS402"],
        ["TS401"],
    ),
    (
        "2.13.0.dev3 does not satisfy <2.13",
        "numpy==2.13.0.dev3\nnumpy<2.13\n",
        ["TS402"],
        ["TS401"],
    ),
    (
        "2.13.0.post1 satisfies >2.13.0rc1 (the bound is a pre-release, not 2.13.0)",
        "numpy==2.13.0.post1\nnumpy>2.13.0rc1\n",
        ["TS401"],
        ["TS402"],
    ),
    (
        "<=2.13.0+cu130 is invalid: a local label only goes with == and !=",
        "numpy<=2.13.0+cu130\n",
        [],
        ["TS404"],
    ),
]


@pytest.mark.parametrize(
    "requirements, old, right", [pytest.param(*c[1:], id=c[0]) for c in PEP440_CASES]
)
def test_pep440_cases_the_hand_written_comparator_got_wrong(requirements, old, right):
    findings = analyze(
        image(), {REQS: GOOD_REQS.replace("numpy>=1.26\n", "") + requirements}, facts=FACTS
    )
    codes = [f.code for f in findings]
    assert codes == right and codes != old, "\n".join(map(str, findings))


def test_a_requirement_pip_refuses_is_an_error_naming_it():
    bad = "torch<=2.13.0+cu130"
    findings = analyze(
        image(install=f"RUN pip install -r /opt/app/requirements.txt '{bad}'"),
        {REQS: GOOD_REQS + "numpy<=2.0+cpu  # also refused\n"},
        facts=FACTS,
    )
    refused = [f for f in findings if f.code == "TS404"]
    assert [(f.severity, f.where) for f in refused] == [
        ("error", "trainer/requirements.txt:5"),
        ("error", "Dockerfile:4"),
    ]
    assert f"pip refuses {bad!r}: Local version label can only be used with" in refused[1].message
    assert "only after == or !=" in refused[1].fix
    # A shell variable is the build's to expand: not a requirement to refuse.
    assert (
        analyze(
            image(install="RUN pip install -r /opt/app/requirements.txt torch==${TORCH_VERSION}"),
            {REQS: GOOD_REQS},
            facts=FACTS,
        )
        == []
    )
