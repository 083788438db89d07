"""Vendors: one implementation per data vendor behind the interfaces in :mod:`.base`.

Selection (:func:`vendor_for`): config ``vendors.<kind>`` names the vendor for that kind of data,
``vendors.default`` covers the rest, and the ``PRIMEFLOW_VENDOR`` environment variable overrides
both. A selected vendor that cannot serve (no key, kind not offered) fails at once with the
reason; there is never a silent fallback to synthetic data.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any

from primeflow_lib.vendors.base import DATA_KINDS, DataKind, Vendor, VendorError

#: vendor name -> "module:Class"; classes take the loaded config in ``from_config``
VENDOR_CLASSES: dict[str, str] = {
    "yfinance": "primeflow_lib.vendors.yfinance_vendor:YFinanceVendor",
    "massive": "primeflow_lib.vendors.massive:MassiveVendor",
    "alpha_vantage": "primeflow_lib.vendors.alpha_vantage:AlphaVantageVendor",
    "csv": "primeflow_lib.vendors.csv_vendor:CsvVendor",
    "synthetic": "primeflow_lib.vendors.synthetic.vendor:SyntheticVendor",
    "databento": "primeflow_lib.vendors.databento.vendor:DatabentoVendor",
    "dbn": "primeflow_lib.vendors.databento.files:DbnFileVendor",
    "cboe": "primeflow_lib.vendors.cboe.vendor:CboeFileVendor",
}


def vendor_name_for(kind: DataKind, cfg: Mapping[str, Any]) -> str:
    """Name of the vendor selected for ``kind`` (see module doc for the order)."""
    if kind not in DATA_KINDS:
        raise VendorError(f"unknown data kind {kind!r} (expected one of {', '.join(DATA_KINDS)})")
    env = (os.environ.get("PRIMEFLOW_VENDOR") or "").strip()
    if env:
        name = env
    else:
        vcfg = cfg.get("vendors", {})
        name = vcfg.get(kind) or vcfg.get("default") or "synthetic"
    if name not in VENDOR_CLASSES:
        src = "PRIMEFLOW_VENDOR" if env else f"config vendors.{kind}/vendors.default"
        raise VendorError(f"unknown vendor {name!r} (from {src}); known: {', '.join(VENDOR_CLASSES)}")
    return name


def get_vendor(name: str, cfg: Mapping[str, Any]) -> Vendor:
    """Instantiate vendor ``name`` from the config (no network call is made)."""
    try:
        target = VENDOR_CLASSES[name]
    except KeyError:
        raise VendorError(f"unknown vendor {name!r}; known: {', '.join(VENDOR_CLASSES)}") from None
    module, cls = target.split(":")
    klass = getattr(importlib.import_module(module), cls)
    return klass.from_config(cfg)


def vendor_for(kind: DataKind, cfg: Mapping[str, Any]) -> Vendor:
    """The ready-to-use vendor for ``kind``: selected, instantiated and checked (raises at once,
    naming the missing environment variable or unsupported kind)."""
    vendor = get_vendor(vendor_name_for(kind, cfg), cfg)
    vendor.check_ready(kind)
    return vendor


__all__ = ["VENDOR_CLASSES", "get_vendor", "vendor_for", "vendor_name_for"]
