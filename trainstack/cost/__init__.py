"""What a stack costs per hour, idle and with every GPU pool at its ceiling: the price table
(prices.py), the estimate (pricing.py, the dev pod's line in dev_pod.py) and its text report
(report.py)."""

from .dev_pod import DevPodCost
from .items import Item
from .prices import PRICES_FILE, PriceError, PriceTable, load_prices
from .pricing import CostReport, PoolCost, estimate
from .report import format_report

__all__ = [
    "PRICES_FILE",
    "CostReport",
    "DevPodCost",
    "Item",
    "PoolCost",
    "PriceError",
    "PriceTable",
    "estimate",
    "format_report",
    "load_prices",
]
