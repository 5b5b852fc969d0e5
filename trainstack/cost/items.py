"""A priced line of the cost report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Item:
    """One priced line: `quantity` units at `unit_hourly` each."""

    what: str
    quantity: float
    unit: str
    unit_hourly: float
    price: str = ""  # the price table row it comes from (its dated source), e.g. "natGateway"

    @property
    def hourly(self) -> float:
        return self.quantity * self.unit_hourly

    def to_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "quantity": self.quantity,
            "unit": self.unit,
            "unitHourly": self.unit_hourly,
            "hourly": round(self.hourly, 6),
            "price": self.price,
        }
