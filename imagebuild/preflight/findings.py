"""What a check reports: a Finding (code, severity, message, the fix in words) and, where the
fix is mechanical, the Edits that make it (`trainstack preflight --fix` applies them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # "error" or "warning"
    message: str
    fix: str
    where: str = ""  # file:line

    def __str__(self) -> str:
        where = f" {self.where}" if self.where else ""
        return f"{self.code} {self.severity}{where}: {self.message}\n    fix: {self.fix}"


def severity(certain: bool) -> str:
    return "error" if certain else "warning"
