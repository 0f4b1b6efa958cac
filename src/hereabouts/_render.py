"""Turning Arrow tables into JSON-ready rows and rich tables (used by the CLI)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import pyarrow as pa


def _clean(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat().replace("+00:00", "Z")
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, list):
        return [_clean(x) for x in v]
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    return v


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows of ``table`` as dicts with ISO 8601 UTC times ('Z') and NaN as None."""
    return [{k: _clean(v) for k, v in r.items()} for r in table.to_pylist()]


def dumps(obj: Any) -> str:
    return json.dumps(_clean(obj), ensure_ascii=False, indent=2, default=str)


def fmt_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S") + (
            "Z" if v.utcoffset() is not None and not v.utcoffset() else ""
        )
    if isinstance(v, float):
        if not math.isfinite(v):
            return ""
        return f"{v:.6f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:.1f}"
    if isinstance(v, list):
        return ", ".join(fmt_cell(x) for x in v)
    return str(v)
