"""What a stack costs per hour, idle and with every GPU pool at its ceiling: the price table
(prices.py), the plan's resources priced by type (resources.py, resource_types.py), the estimate
(pricing.py, the dev pod's line in dev_pod.py, the served models' in serving.py) and its text
report (report.py)."""

from .dev_pod import DevPodCost
from .items import Item
from .prices import PRICES_FILE, PriceError, PriceTable, Source, load_prices
from .pricing import CostReport, PoolCost, estimate
from .report import format_report, idle_lines, unpriced_lines
from .resources import RULES, Resource, ResourceCost, UnpricedLine, known, price_resources
from .serving import ServingCost

__all__ = [
    "PRICES_FILE",
    "CostReport",
    "DevPodCost",
    "Item",
    "PoolCost",
    "PriceError",
    "PriceTable",
    "RULES",
    "Resource",
    "ResourceCost",
    "ServingCost",
    "Source",
    "UnpricedLine",
    "estimate",
    "format_report",
    "idle_lines",
    "known",
    "load_prices",
    "price_resources",
    "unpriced_lines",
]
