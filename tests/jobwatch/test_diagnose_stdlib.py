"""jobwatch.diagnose imports the standard library only, so the trainer image (which has
none of the CLI's dependencies) can run it."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The modules an import adds, in a fresh interpreter: what was loaded before it (site, .pth hooks
# of this venv) is not the package's doing.
PROBE = """
import json, sys
before = set(sys.modules)
import jobwatch.diagnose
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def loaded_by(code: str) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def not_stdlib(modules: list[str]) -> list[str]:
    """Modules neither of the standard library nor the package's own path to diagnose."""
    ours = {"jobwatch"}
    return [
        m
        for m in modules
        if m.split(".")[0] not in sys.stdlib_module_names
        and m not in ours
        and not m.startswith("jobwatch.diagnose")
    ]


def test_diagnose_imports_the_standard_library_only():
    loaded = loaded_by(PROBE)
    assert "jobwatch.diagnose.causes" in loaded  # the probe did import the package
    assert not_stdlib(loaded) == []


def test_the_probe_sees_a_third_party_import():
    """Not vacuous: a package that pulls in yaml (or another part of trainstack) is caught."""
    loaded = loaded_by(
        PROBE.replace(
            "import jobwatch.diagnose",
            "import yaml, trainstack.ops.kube, jobwatch.diagnose",
        )
    )
    assert "yaml" in not_stdlib(loaded) and "trainstack.ops.kube" in not_stdlib(loaded)


def test_the_incident_logic_imports_the_standard_library_only():
    """incidents.py and restarts.py (the watcher's restart logic) too: only watcher.py and
    __main__.py reach for the Kubernetes client and boto3, inside functions."""
    loaded = loaded_by(PROBE.replace("jobwatch.diagnose", "jobwatch.restarts, jobwatch.watcher"))
    assert "jobwatch.incidents" in loaded and "jobwatch.restarts" in loaded
    assert [m for m in not_stdlib(loaded) if not m.startswith("jobwatch.")] == []
