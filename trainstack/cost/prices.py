"""The price table, which lives in components/prices.py beside its `prices.yaml` (the Pulumi
program renders the job watcher's instance prices from the same table)."""

from components.prices import PRICES_FILE, PriceError, PriceTable, Source, load_prices

__all__ = ["PRICES_FILE", "PriceError", "PriceTable", "Source", "load_prices"]
