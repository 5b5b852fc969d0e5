"""The self-test's machinery: a check, the runner that skips the checks whose needs failed and
logs one line each, and the environment report (versions, devices). Standard library up front,
torch only inside functions, so a broken torch is a finding, not a traceback.
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

LEVELS = ("quick", "standard", "full")
PACKAGES = ("torch", "numpy", "pydantic", "tokenizers", "datasets", "matplotlib")


class CheckFailed(Exception):
    """A check's finding (reported without a traceback)."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


@dataclass(frozen=True)
class Check:
    name: str
    level: str
    fn: Callable[[dict], str]  # shared context -> detail; raises on failure
    needs: tuple[str, ...] = ()


def run_checks(checks: list[Check], ctx: dict, log=None) -> list[dict]:
    """Run in order; a check whose needs did not pass is skipped. One line per check to `log`."""
    log = log or sys.stderr
    results: list[dict] = []
    passed: set[str] = set()
    for check in checks:
        missing = [n for n in check.needs if n not in passed]
        start = time.perf_counter()
        if missing:
            rec = {
                "name": check.name,
                "ok": False,
                "skipped": True,
                "seconds": 0.0,
                "error": f"skipped: needs {', '.join(missing)}, which did not pass",
            }
        else:
            try:
                rec = {"name": check.name, "ok": True, "detail": check.fn(ctx)}
                passed.add(check.name)
            except CheckFailed as e:
                rec = {"name": check.name, "ok": False, "error": str(e)}
            except (Exception, SystemExit) as e:
                rec = {
                    "name": check.name,
                    "ok": False,
                    "error": f"{type(e).__name__}: {e}",
                    "traceback": traceback.format_exc(),
                }
            rec["seconds"] = round(time.perf_counter() - start, 3)
        results.append(rec)
        status = "SKIP" if rec.get("skipped") else "PASS" if rec["ok"] else "FAIL"
        print(
            f"{status} {check.name:<21} {rec['seconds']:6.2f}s  "
            f"{rec.get('detail') or rec.get('error')}",
            file=log,
            flush=True,
        )
    return results


# -- environment ----------------------------------------------------------------------------------


def environment() -> dict:
    """Versions and devices; never raises (a broken torch is the imports check's finding)."""
    env: dict = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {},
    }
    for name in PACKAGES:
        try:
            env["packages"][name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            env["packages"][name] = None
    try:
        import torch
        import torch.distributed as dist
    except Exception as e:
        env["torch_error"] = f"{type(e).__name__}: {e}"
        return env
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    env.update(
        torch=torch.__version__,
        cuda=torch.version.cuda,
        cudnn=torch.backends.cudnn.version(),
        nccl=nccl_version(),
        gloo_available=dist.is_gloo_available(),
        nccl_available=dist.is_nccl_available(),
        cuda_available=torch.cuda.is_available(),
        device_count=count,
        devices=[torch.cuda.get_device_name(i) for i in range(count)],
    )
    return env


def nccl_version() -> str | None:
    import torch

    if torch.version.cuda is None:
        return None
    try:
        return ".".join(str(v) for v in torch.cuda.nccl.version())
    except Exception as e:
        return f"unavailable ({type(e).__name__}: {e})"
