"""`kubectl port-forward` for the commands that hold one open (`serve connect`, `devpod connect`):
started, handed to the command's own loop until that returns or Ctrl-C, and never left running."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import TextIO


def hold(command: list[str], forwarding: Callable[[subprocess.Popen], int], out: TextIO) -> int:
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        return forwarding(proc)
    except KeyboardInterrupt:
        print("\nstopping the port-forward", file=out)
        return 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
