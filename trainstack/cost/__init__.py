"""What a stack costs per hour, idle and with every GPU pool at its ceiling: the price table
(prices.py), the estimate (pricing.py) and its text report (report.py)."""

from .prices import PRICES_FILE, PriceError, PriceTable, load_prices
from .pricing import CostReport, Item, PoolCost, estimate
from .report import format_report

__all__ = [
    "PRICES_FILE",
    "CostReport",
    "Item",
    "PoolCost",
    "PriceError",
    "PriceTable",
    "estimate",
    "format_report",
    "load_prices",
]
