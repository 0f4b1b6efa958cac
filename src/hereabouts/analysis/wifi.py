"""Wi-Fi and cell positioning: scans without a position become positioned fixes.

A *scan* (the ``scan`` tier) lists the access points (BSSIDs) or cell towers (``mcc,mnc,lac,cid``) a
device heard at one time, with their signal strength. Two steps turn scans into fixes:

1. :func:`learn_access_points` estimates where each access point (or tower) is, from the same user's
   scans that came with a good fix: every scan row is paired with the device's fixes close in time
   (interpolated between the fix before and after, or the nearest one), and the access point's
   position is the RSSI- and accuracy-weighted centre of the positions it was heard from, after
   trimming observations far from a robust (weighted-median) centre. It also gives a coverage radius
   (the 90th percentile of the distances of the distinct positions it was heard from), a position
   uncertainty, and how many distinct positions it was heard from. Access points heard from fewer than ``min_positions``
   distinct positions keep a large uncertainty (their coverage radius at least), and those whose
   observations scatter so much that most were trimmed (moving hotspots) are dropped.
   :func:`read_ap_table` reads a table the user supplies instead (CSV or Parquet).
2. :func:`position_scans` positions each scan (all rows of one device at one time) at the weighted
   centre of the known access points it heard (Wi-Fi preferred; cell towers only when no access point
   of the scan is known), weighting by signal strength and by each access point's uncertainty, after
   trimming access points inconsistent with the rest. Learned access points heard from fewer than
   three distinct positions are not used: their learned position is where someone heard them (often
   weakly, 50 m or more away), not where they are. Its ``accuracy_m`` combines the access points'
   uncertainty, their spread, and their coverage radius (fewer access points, larger radius: less
   accurate). The result is the ``fix`` tier, provider ``"wifi"`` (or ``"cell"``).

Positions are computed in a local east/north plane around each access point or scan (exact enough
within a few kilometres). Everything is vectorised with NumPy over sorted groups; there is no loop over
access points or scans.

Fixes whose provider is ``wifi``, ``cell`` or ``reported`` are never used for learning: they are
themselves positioned from networks (or are a producer's summary), and learning from them would
feed positioned scans back into the table that positions them.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ..model import schemas
from ..model.errors import InputError
from ._geo import enu_m, from_enu, grouped_quantile, segment_bounds

if TYPE_CHECKING:
    from .._db import Database

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]

__all__ = [
    "AP_TABLE",
    "DEFAULT_RADIUS_M",
    "DEFAULT_UNCERTAINTY_M",
    "ScanPositioning",
    "learn_access_points",
    "normalise_bssid",
    "position_scans",
    "position_stored_scans",
    "read_ap_table",
    "scans_without_fix",
    "store_scans",
    "validate_ap_table",
]

#: One row per access point (``kind`` ``wifi``) or cell tower (``kind`` ``cell``).
AP_TABLE = pa.schema(
    [
        pa.field("kind", pa.string(), nullable=False),
        pa.field("ident", pa.string(), nullable=False),  # BSSID aa:bb:cc:dd:ee:ff, or mcc,mnc,lac,cid
        pa.field("lat", pa.float64(), nullable=False),
        pa.field("lon", pa.float64(), nullable=False),
        pa.field("radius_m", pa.float64(), nullable=False),  # coverage: where it is heard
        pa.field("uncertainty_m", pa.float64(), nullable=False),  # of lat/lon (about one sigma, RMS)
        pa.field("n_obs", pa.int64()),  # scan rows used (null for a supplied table)
        pa.field("n_positions", pa.int64()),  # distinct positions (15 m cells) it was heard from
        pa.field("rssi_max_dbm", pa.float64()),
        pa.field("origin", pa.string()),  # "learned" or "supplied"
    ],
    metadata={"table": "access_points"},
)

#: Coverage radius given to a supplied access point or tower without ``radius_m``.
DEFAULT_RADIUS_M: Mapping[str, float] = {"wifi": 60.0, "cell": 2000.0}
#: Position uncertainty given to a supplied access point or tower without ``uncertainty_m``.
DEFAULT_UNCERTAINTY_M: Mapping[str, float] = {"wifi": 20.0, "cell": 500.0}
#: Observations farther than this from an access point's centre are never kept (GPS outliers, a
#: moving hotspot); the same bound limits how far apart the access points of one scan may be.
MAX_RANGE_M: Mapping[str, float] = {"wifi": 250.0, "cell": 30000.0}
#: Smallest trimming distance (so a tight cluster does not trim its own edge).
MIN_TRIM_M: Mapping[str, float] = {"wifi": 40.0, "cell": 1500.0}
#: How far an access point (or tower) typically stands from where its users are when they hear it best:
#: a prior added (in quadrature) to the uncertainty of every learned position, which the observations
#: cannot reveal (they show where the users were, not where the access point is).
AP_OFFSET_M: Mapping[str, float] = {"wifi": 15.0, "cell": 300.0}
#: Smallest coverage radius reported.
MIN_RADIUS_M: Mapping[str, float] = {"wifi": 10.0, "cell": 300.0}

_NO_LEARN_PROVIDERS = ("wifi", "cell", "reported")
_BSSID_HEX = re.compile(r"^[0-9a-f]{12}$")
_CELL = re.compile(r"^\s*-?\d+\s*,\s*-?\d+\s*,\s*-?\d+\s*,\s*-?\d+\s*$")
_SEP = "\x1f"


# ----------------------------------------------------------------------------------------- helpers
def normalise_bssid(value: str) -> str | None:
    """``aa:bb:cc:dd:ee:ff`` for a BSSID written with ``:``, ``-``, ``.`` or no separators (any
    case); None when ``value`` is not 12 hex digits.

    >>> normalise_bssid("00-1C-B3-09-85-15")
    '00:1c:b3:09:85:15'
    >>> normalise_bssid("001cb3098515")
    '00:1c:b3:09:85:15'
    >>> normalise_bssid("00:1c:b3") is None
    True
    """
    h = re.sub(r"[\s:\-.]", "", value).lower()
    if not _BSSID_HEX.match(h):
        return None
    return ":".join(h[i : i + 2] for i in range(0, 12, 2))


def _normalise_cell(value: str) -> str | None:
    """``mcc,mnc,lac,cid`` with integers written plainly (as the OsmAnd reader stores them)."""
    if not _CELL.match(value):
        return None
    return ",".join(str(int(p)) for p in value.split(","))


def _f64(t: pa.Table, name: str, default: float = math.nan) -> F64:
    if name not in t.column_names:
        return np.full(t.num_rows, default)
    col = t.column(name).cast(pa.float64())
    return np.asarray(col.fill_null(default).to_numpy(), dtype=np.float64)


def _us(t: pa.Table, name: str) -> I64:
    col = t.column(name)
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return np.asarray(col.cast(pa.int64()).to_numpy(), dtype=np.int64)


def _codes(*cols: pa.ChunkedArray | pa.Array) -> tuple[I64, list[str]]:
    """Integer codes of the joined string columns, and the code → joined value list."""
    if len(cols) == 1:
        joined = cols[0]
    else:
        joined = pc.binary_join_element_wise(*[pc.cast(c, pa.string()) for c in cols], _SEP)
    enc = pc.dictionary_encode(joined).combine_chunks() if isinstance(joined, pa.ChunkedArray) else None
    if enc is None:
        enc = pc.dictionary_encode(joined)
    return (
        np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64),
        [str(v) for v in enc.dictionary.to_pylist()],
    )


def _gsum(codes: I64, values: F64, n: int) -> F64:
    return np.bincount(codes, weights=values, minlength=n).astype(np.float64)


def _group_extreme(codes: I64, values: F64, out: F64, ufunc: np.ufunc) -> None:
    """``out[g] = ufunc(out[g], values of group g)`` through one sort (``ufunc.at`` is slow)."""
    order = np.argsort(codes, kind="stable")
    c = codes[order]
    bounds = segment_bounds(c)
    red = ufunc.reduceat(values[order], bounds[:-1])
    g = c[bounds[:-1]]
    out[g] = ufunc(out[g], red)


def _weighted_median(codes: I64, values: F64, weights: F64, n: int) -> F64:
    """Per group ``codes`` (0..n-1), the weighted median of ``values`` (NaN for an empty group)."""
    out = np.full(n, np.nan)
    if codes.size == 0:
        return out
    # by value, then (stable) by group: the values sorted within each group
    by_value = np.argsort(values, kind="quicksort")
    order = by_value[np.argsort(codes[by_value], kind="stable")]
    c, v, w = codes[order], values[order], weights[order]
    cum = np.cumsum(w)
    bounds = segment_bounds(c)
    starts = bounds[:-1]
    base = np.concatenate(([0.0], cum))[starts]  # cumulative weight before each group
    total = cum[bounds[1:] - 1] - base
    half = base + total / 2.0
    # first index in each group whose cumulative weight reaches half of the group's
    idx = np.searchsorted(cum, half, side="left")
    idx = np.clip(idx, starts, bounds[1:] - 1)
    out[c[starts]] = v[idx]
    return out


def _rssi_weight(rssi: F64, rssi_weight_db: float, default_rssi_dbm: float) -> F64:
    r = np.where(np.isfinite(rssi), rssi, default_rssi_dbm)
    r = np.clip(r, -110.0, -20.0)
    return np.asarray(10.0 ** ((r + 60.0) / rssi_weight_db), dtype=np.float64)


def _kind_of(keys: list[str]) -> list[str]:
    return [k.split(_SEP, 1)[0] for k in keys]


def _per_kind(values: Mapping[str, float], kinds: NDArray[np.object_], fallback: str = "wifi") -> F64:
    return np.asarray([values.get(str(k), values[fallback]) for k in kinds], dtype=np.float64)


def empty_ap_table() -> pa.Table:
    return AP_TABLE.empty_table()


# ----------------------------------------------------------------------------------------- learning
def _pair_scans_with_fixes(
    fixes: pa.Table,
    scans: pa.Table,
    *,
    max_fix_accuracy_m: float,
    max_dt_s: float,
    walking_speed_mps: float,
) -> tuple[I64, F64, F64, F64]:
    """For every scan row, the position of its device at the scan's time from the device's good fixes:
    (scan row index, lat, lon, effective accuracy m) of the rows that could be paired."""
    f = fixes
    if "provider" in f.column_names:
        bad = pc.fill_null(pc.is_in(f.column("provider"), pa.array(_NO_LEARN_PROVIDERS)), False)
        f = f.filter(pc.invert(bad))
    acc = _f64(f, "accuracy_m", max_fix_accuracy_m)  # no accuracy given: taken at the limit
    keep = acc <= max_fix_accuracy_m
    f = f.filter(pa.array(keep))
    acc = acc[keep]
    if f.num_rows == 0 or scans.num_rows == 0:
        e = np.zeros(0)
        return np.zeros(0, np.int64), e, e, e
    fdev = f.column("device").cast(pa.string())
    sdev = scans.column("device").cast(pa.string())
    devs = pc.unique(pa.chunked_array(fdev.chunks + sdev.chunks, pa.string()))
    fcode = np.asarray(pc.index_in(fdev, value_set=devs).to_numpy(zero_copy_only=False), dtype=np.int64)
    scode = np.asarray(pc.index_in(sdev, value_set=devs).to_numpy(zero_copy_only=False), dtype=np.int64)
    ft = _us(f, "t")
    st = _us(scans, "t")
    flat = _f64(f, "lat")
    flon = _f64(f, "lon")
    # one sorted axis for all devices: device code in the high part, time relative to the earliest
    t0 = int(min(ft.min(), st.min()))
    span = int(max(ft.max(), st.max())) - t0 + 1
    fkey = fcode * span + (ft - t0)
    skey = scode * span + (st - t0)
    order = np.argsort(fkey, kind="stable")
    fkey, fcode, ft = fkey[order], fcode[order], ft[order]
    flat, flon, acc = flat[order], flon[order], acc[order]
    n = fkey.size
    i = np.searchsorted(fkey, skey, side="left")  # first fix at or after the scan
    prev = np.clip(i - 1, 0, n - 1)
    nxt = np.clip(i, 0, n - 1)
    win = int(max_dt_s * 1e6)
    has_prev = (i > 0) & (fcode[prev] == scode) & (st - ft[prev] <= win)
    has_next = (i < n) & (fcode[nxt] == scode) & (ft[nxt] - st <= win)
    dt_prev = (st - ft[prev]).astype(np.float64)
    dt_next = (ft[nxt] - st).astype(np.float64)
    both = has_prev & has_next
    span_us = np.maximum(dt_prev + dt_next, 1.0)
    frac = np.where(both, dt_prev / span_us, 0.0)
    # interpolate in a plane around the earlier fix
    e, nn = enu_m(flat[nxt], flon[nxt], flat[prev], flon[prev])
    ilat, ilon = from_enu(e * frac, nn * frac, flat[prev], flon[prev])
    use_prev = has_prev & (~has_next | (dt_prev <= dt_next))
    lat = np.where(both, ilat, np.where(use_prev, flat[prev], flat[nxt]))
    lon = np.where(both, ilon, np.where(use_prev, flon[prev], flon[nxt]))
    # effective accuracy: the fix's, plus how far the device may have walked since (one-sided only)
    a_both = np.maximum(acc[prev], acc[nxt])
    dt_one = np.where(use_prev, dt_prev, dt_next) / 1e6
    a_one = np.hypot(np.where(use_prev, acc[prev], acc[nxt]), walking_speed_mps * dt_one)
    eff = np.where(both, a_both, a_one)
    ok = (has_prev | has_next) & (eff <= max_fix_accuracy_m)
    rows = np.flatnonzero(ok)
    return rows, lat[ok], lon[ok], eff[ok]


def learn_access_points(
    fixes: pa.Table,
    scans: pa.Table,
    *,
    max_fix_accuracy_m: float = 30.0,
    max_dt_s: float = 30.0,
    min_positions: int = 3,
    position_cell_m: float = 15.0,
    rssi_weight_db: float = 10.0,
    default_rssi_dbm: float = -80.0,
    trim_factor: float = 2.5,
    min_kept_share: float = 0.5,
    walking_speed_mps: float = 1.4,
    pair_by: str = "device",
) -> pa.Table:
    """Estimate the position, coverage radius and uncertainty of every access point (and cell tower)
    heard in ``scans`` (the ``scan`` tier) from the good fixes in ``fixes`` (the ``fix`` tier) of the
    same devices.

    A scan row is paired with its device's fixes within ``max_dt_s`` (interpolated between the fix
    before and after, else the nearest one, whose accuracy then grows by ``walking_speed_mps`` per
    second apart); fixes with ``accuracy_m`` over ``max_fix_accuracy_m`` and fixes whose provider is
    wifi, cell or reported are not used (fixes without an accuracy are taken at the limit). Each
    observation is weighted by ``10 ** ((rssi + 60) / rssi_weight_db)`` (``default_rssi_dbm`` when the
    scan gave none) and by the inverse square of its accuracy. The access point's centre starts at the
    weighted median and is refined three times as the weighted mean of the observations within
    ``trim_factor`` times the median distance (at least 40 m for Wi-Fi, 1.5 km for cells; at
    most 250 m and 30 km). Access points that kept less than ``min_kept_share`` of their observations
    are dropped (they moved); those heard from fewer than ``min_positions`` distinct
    ``position_cell_m`` cells get an uncertainty of at least their coverage radius and half the default
    radius (:data:`DEFAULT_RADIUS_M`: 30 m for Wi-Fi, 1 km for cells). The uncertainty is
    the weighted spread and accuracy of the observations over the number of distinct positions, plus (in
    quadrature) the prior :data:`AP_OFFSET_M` for how far an access point stands from where it is
    heard.

    ``pair_by="entity"`` pairs a scan with the fixes of any device of the same entity (both tables
    need an ``entity`` column, as :meth:`hereabouts.Database.fixes` gives): a phone that scans and a
    watch that records GPS, carried by one person.

    Returns the :data:`AP_TABLE` schema, sorted by kind and ident.
    """
    if pair_by not in ("device", "entity"):
        raise InputError(f"pair_by must be 'device' or 'entity', not {pair_by!r}")
    if pair_by == "entity":
        for name, t in (("fixes", fixes), ("scans", scans)):
            if "entity" not in t.column_names:
                raise InputError(f"pair_by='entity' needs an 'entity' column in the {name}")
        fixes = fixes.set_column(fixes.schema.get_field_index("device"), "device", fixes.column("entity"))
        scans = scans.set_column(scans.schema.get_field_index("device"), "device", scans.column("entity"))
    if max_fix_accuracy_m <= 0 or max_dt_s < 0 or min_positions < 1 or position_cell_m <= 0:
        raise InputError(
            "learn_access_points needs max_fix_accuracy_m > 0, max_dt_s >= 0, min_positions >= 1 and "
            f"position_cell_m > 0 (got {max_fix_accuracy_m}, {max_dt_s}, {min_positions}, {position_cell_m})"
        )
    schemas.validate(fixes.select([c for c in fixes.column_names if c in schemas.FIX.names]), "fix")
    schemas.validate(scans.select([c for c in scans.column_names if c in schemas.SCAN.names]), "scan")
    rows, olat, olon, oacc = _pair_scans_with_fixes(
        fixes,
        scans,
        max_fix_accuracy_m=max_fix_accuracy_m,
        max_dt_s=max_dt_s,
        walking_speed_mps=walking_speed_mps,
    )
    if rows.size == 0:
        return empty_ap_table()
    sc = scans.take(pa.array(rows))
    codes, keys = _codes(sc.column("kind"), sc.column("ident"))
    n_ap = len(keys)
    kinds = np.asarray(_kind_of(keys), dtype=object)
    rssi = _f64(sc, "rssi_dbm")
    w = _rssi_weight(rssi, rssi_weight_db, default_rssi_dbm) / (oacc**2 + 25.0)
    cnt = np.bincount(codes, minlength=n_ap).astype(np.float64)
    lat0 = _gsum(codes, olat, n_ap) / cnt
    lon0 = _weighted_median(codes, olon, np.ones_like(olon), n_ap)  # median: no antimeridian split
    x, y = enu_m(olat, olon, lat0[codes], lon0[codes])
    cx = _weighted_median(codes, x, w, n_ap)
    cy = _weighted_median(codes, y, w, n_ap)
    min_trim = _per_kind(MIN_TRIM_M, kinds)
    max_range = _per_kind(MAX_RANGE_M, kinds)
    keep = np.ones(codes.size, dtype=bool)
    for _ in range(3):
        d = np.hypot(x - cx[codes], y - cy[codes])
        scale = _weighted_median(codes, d, np.ones_like(d), n_ap)  # the spread of where it was heard
        limit = np.minimum(np.maximum(trim_factor * scale, min_trim), max_range)
        keep = d <= limit[codes]
        wk = np.where(keep, w, 0.0)
        sw = _gsum(codes, wk, n_ap)
        has = sw > 0
        cx = np.where(has, _gsum(codes, wk * x, n_ap) / np.where(has, sw, 1.0), cx)
        cy = np.where(has, _gsum(codes, wk * y, n_ap) / np.where(has, sw, 1.0), cy)
    d = np.hypot(x - cx[codes], y - cy[codes])
    wk = np.where(keep, w, 0.0)
    sw = _gsum(codes, wk, n_ap)
    n_kept = _gsum(codes, keep.astype(np.float64), n_ap)
    # distinct positions heard from
    # cells of a grid centred on the access point, so that one spot is one cell
    gx = np.floor((x - cx[codes]) / position_cell_m + 0.5).astype(np.int64)
    gy = np.floor((y - cy[codes]) / position_cell_m + 0.5).astype(np.int64)
    off = 1 << 20
    cell_key = (
        (codes[keep] << 42)
        | ((np.clip(gx[keep], -off, off - 1) + off) << 21)
        | (np.clip(gy[keep], -off, off - 1) + off)
    )
    uk = np.unique(cell_key)  # sorted: by access point first
    cells = uk >> 42
    n_pos = np.bincount(cells, minlength=n_ap).astype(np.int64)
    # coverage: the 90th percentile of the distances of those distinct positions (a spot where the
    # user stayed for hours counts once, as does each spot passed by)
    mask = (1 << 21) - 1
    cd = np.hypot(((uk >> 21) & mask) - off, (uk & mask) - off) * position_cell_m
    order = np.lexsort((cd, cells))
    bounds = segment_bounds(cells[order])
    radius = np.zeros(n_ap)
    radius[cells[order][bounds[:-1]]] = grouped_quantile(cd[order], bounds, 0.9)
    radius = np.maximum(radius, _per_kind(MIN_RADIUS_M, kinds))
    # uncertainty: weighted spread and observation accuracy over the number of distinct positions
    spread2 = _gsum(codes, wk * d**2, n_ap) / np.where(sw > 0, sw, 1.0)
    acc2 = _gsum(codes, wk * oacc**2, n_ap) / np.where(sw > 0, sw, 1.0)
    unc = np.sqrt((spread2 + acc2) / np.maximum(n_pos, 1) + _per_kind(AP_OFFSET_M, kinds) ** 2)
    few = n_pos < min_positions
    unc = np.where(few, np.maximum(unc, np.maximum(radius, _per_kind(DEFAULT_RADIUS_M, kinds) / 2)), unc)
    rmax = np.full(n_ap, -np.inf)
    _group_extreme(codes[keep], np.where(np.isfinite(rssi[keep]), rssi[keep], -np.inf), rmax, np.maximum)
    lat, lon = from_enu(cx, cy, lat0, lon0)
    ok = (sw > 0) & (n_kept >= min_kept_share * cnt)
    idx = np.flatnonzero(ok)
    idents = [keys[i].split(_SEP, 1)[1] for i in idx.tolist()]
    table = pa.table(
        {
            "kind": pa.array(kinds[idx].tolist(), pa.string()),
            "ident": pa.array(idents, pa.string()),
            "lat": pa.array(lat[idx]),
            "lon": pa.array(lon[idx]),
            "radius_m": pa.array(np.round(radius[idx], 2)),
            "uncertainty_m": pa.array(np.round(unc[idx], 2)),
            "n_obs": pa.array(n_kept[idx].astype(np.int64)),
            "n_positions": pa.array(n_pos[idx]),
            "rssi_max_dbm": pa.array(np.where(np.isfinite(rmax[idx]), rmax[idx], np.nan), from_pandas=True),
            "origin": pa.array(["learned"] * idx.size, pa.string()),
        },
        schema=AP_TABLE,
    )
    return table.sort_by([("kind", "ascending"), ("ident", "ascending")])


# ----------------------------------------------------------------------------------------- positioning
def position_scans(
    scans: pa.Table,
    ap_table: pa.Table,
    *,
    rssi_weight_db: float = 10.0,
    default_rssi_dbm: float = -80.0,
    min_aps: int = 1,
    min_ap_positions: int = 3,
    provider: str = "wifi",
) -> pa.Table:
    """Position every scan (the rows of ``scans`` with the same device and time) from the access
    points of ``ap_table`` (:data:`AP_TABLE`, from :func:`learn_access_points` or
    :func:`read_ap_table`) it heard.

    The position is the weighted centre of the scan's known access points (weights: signal strength as
    in :func:`learn_access_points`, over the square of each access point's uncertainty plus 10 m),
    after dropping those farther from the weighted median than twice the largest coverage radius
    (they disagree with the rest). Wi-Fi access points are used when the scan heard any known one;
    otherwise its known cell towers. A learned access point heard from fewer than
    ``min_ap_positions`` distinct positions (``n_positions``) is not used: its position is where it
    was heard, which may be 50 m or more from where it is, and a scan elsewhere that hears it would
    be put there (supplied access points, without ``n_positions``, are always used). Scans with fewer
    than ``min_aps`` usable access points are left out. ``accuracy_m`` is ``sqrt(u² + s² + r²/n)``: ``u`` the weighted RMS uncertainty of the access
    points, ``s`` their weighted RMS distance from the result, ``r`` their weighted RMS reach (the
    coverage radius, or more when an access point was heard much weaker than its ``rssi_max_dbm``:
    log-distance path loss with exponent 3 from 5 m) and ``n`` how many were used.

    Returns the ``fix`` tier (``provider`` ``"wifi"``, or ``"cell"`` for a scan positioned by cell
    towers alone; ``source_id`` of the scan), sorted by device and time.
    """
    if min_aps < 1 or min_ap_positions < 1:
        raise InputError(
            f"min_aps and min_ap_positions must be at least 1, got {min_aps} and {min_ap_positions}"
        )
    ap_table = validate_ap_table(ap_table)
    if ap_table.num_rows:
        npos = ap_table.column("n_positions")
        usable = pc.fill_null(pc.greater_equal(npos, min_ap_positions), True)
        ap_table = ap_table.filter(usable)
    if scans.num_rows == 0 or ap_table.num_rows == 0:
        return schemas.FIX.empty_table()
    scans = schemas.validate(scans.select([c for c in scans.column_names if c in schemas.SCAN.names]), "scan")
    skey = pc.binary_join_element_wise(scans.column("kind"), scans.column("ident"), _SEP)
    akey = pc.binary_join_element_wise(ap_table.column("kind"), ap_table.column("ident"), _SEP)
    ai = pc.index_in(skey, value_set=akey.combine_chunks() if isinstance(akey, pa.ChunkedArray) else akey)
    known = np.asarray(pc.is_valid(ai).to_numpy(zero_copy_only=False), dtype=bool)
    if not known.any():
        return schemas.FIX.empty_table()
    sc = scans.filter(pa.array(known))
    ap = np.asarray(pc.drop_null(ai).to_numpy(zero_copy_only=False), dtype=np.int64)
    t = _us(sc, "t")
    dev_codes, dev_names = _codes(sc.column("device").cast(pa.string()))
    is_wifi = np.asarray(pc.equal(sc.column("kind"), "wifi").to_numpy(zero_copy_only=False), dtype=bool)
    order = np.lexsort((ap, t, dev_codes))
    ap, t, dev_codes, is_wifi = ap[order], t[order], dev_codes[order], is_wifi[order]
    rssi = _f64(sc, "rssi_dbm")[order]
    src = sc.column("source_id").cast(pa.int64()).take(pa.array(order))
    # a scan = one device at one time
    new = np.ones(t.size, dtype=bool)
    new[1:] = (t[1:] != t[:-1]) | (dev_codes[1:] != dev_codes[:-1])
    g = np.cumsum(new) - 1
    n_g = int(g[-1]) + 1
    # Wi-Fi preferred: drop a scan's cell rows when it has a known access point
    has_wifi = _gsum(g, is_wifi.astype(np.float64), n_g) > 0
    use = is_wifi | ~has_wifi[g]
    alat = _f64(ap_table, "lat")[ap]
    alon = _f64(ap_table, "lon")[ap]
    arad = _f64(ap_table, "radius_m")[ap]
    aunc = _f64(ap_table, "uncertainty_m")[ap]
    w = np.where(use, _rssi_weight(rssi, rssi_weight_db, default_rssi_dbm) / (aunc**2 + 100.0), 0.0)
    first = np.flatnonzero(new)
    lat0, lon0 = alat[first][g], alon[first][g]
    x, y = enu_m(alat, alon, lat0, lon0)
    cx = _weighted_median(g, x, np.maximum(w, 1e-300) * use, n_g)
    cy = _weighted_median(g, y, np.maximum(w, 1e-300) * use, n_g)
    rad_max = np.zeros(n_g)
    _group_extreme(g[use], arad[use], rad_max, np.maximum)
    for _ in range(2):
        d = np.hypot(x - cx[g], y - cy[g])
        keep = use & (d <= np.maximum(2.0 * rad_max[g], 1.0))
        wk = np.where(keep, w, 0.0)
        sw = _gsum(g, wk, n_g)
        has = sw > 0
        cx = np.where(has, _gsum(g, wk * x, n_g) / np.where(has, sw, 1.0), cx)
        cy = np.where(has, _gsum(g, wk * y, n_g) / np.where(has, sw, 1.0), cy)
    d = np.hypot(x - cx[g], y - cy[g])
    keep = use & (d <= np.maximum(2.0 * rad_max[g], 1.0))
    wk = np.where(keep, w, 0.0)
    sw = _gsum(g, wk, n_g)
    n_used = _gsum(g, keep.astype(np.float64), n_g)
    swd = np.where(sw > 0, sw, 1.0)
    u2 = _gsum(g, wk * aunc**2, n_g) / swd
    s2 = _gsum(g, wk * d**2, n_g) / swd
    # how far each access point may be: its coverage radius, or farther when it was heard much weaker
    # than its strongest (log-distance path loss, exponent 3, from 5 m at the strongest signal)
    amax = _f64(ap_table, "rssi_max_dbm")[ap]
    far = np.where(
        np.isfinite(amax) & np.isfinite(rssi),
        5.0 * 10.0 ** (np.clip(amax - np.where(np.isfinite(rssi), rssi, amax), 0.0, 60.0) / 30.0),
        0.0,
    )
    reach = np.maximum(arad, np.minimum(far, np.where(is_wifi, MAX_RANGE_M["wifi"], MAX_RANGE_M["cell"])))
    r2 = _gsum(g, wk * reach**2, n_g) / swd
    accuracy = np.sqrt(u2 + s2 + r2 / np.maximum(n_used, 1.0))
    ok = (sw > 0) & (n_used >= min_aps)
    lat, lon = from_enu(cx, cy, lat0[first], lon0[first])
    wifi_scan = has_wifi
    idx = np.flatnonzero(ok)
    rows = first[idx]
    n = idx.size
    t_arr = pa.array(t[rows], pa.int64()).cast(schemas.UTC_US)
    out = pa.Table.from_arrays(
        [
            pa.array([dev_names[c] for c in dev_codes[rows].tolist()], pa.string()),
            t_arr,
            pa.nulls(n, pa.int32()),
            pa.array(lat[idx]),
            pa.array(lon[idx]),
            pa.array(np.round(accuracy[idx], 1)),
            pa.nulls(n, pa.float64()),
            pa.nulls(n, pa.float64()),
            pa.nulls(n, pa.float64()),
            pa.array(np.where(wifi_scan[idx], provider, "cell").tolist(), pa.string()),
            src.take(pa.array(rows)),
        ],
        schema=schemas.FIX,
    )
    return out


# ----------------------------------------------------------------------------------------- supplied tables
def validate_ap_table(table: pa.Table, *, origin: str = "the access-point table") -> pa.Table:
    """``table`` as :data:`AP_TABLE`: ``kind`` defaults to wifi, ``radius_m`` and ``uncertainty_m`` to
    :data:`DEFAULT_RADIUS_M` and :data:`DEFAULT_UNCERTAINTY_M`; lat/lon must be present and valid."""
    if table.schema.equals(AP_TABLE, check_metadata=False):
        return table
    missing = [c for c in ("ident", "lat", "lon") if c not in table.column_names]
    if missing:
        raise InputError(
            f"{origin} lacks the columns {', '.join(missing)}; it has {', '.join(table.column_names)}",
            hint="an access-point table needs bssid (or ident), lat and lon, optionally radius_m",
        )
    n = table.num_rows
    for name, lim in (("lat", 90.0), ("lon", 180.0)):
        v = _f64(table, name)
        bad = np.flatnonzero(~(np.abs(v) <= lim))
        if bad.size:
            raise InputError(
                f"{origin}: row {int(bad[0]) + 1} has {name} {float(v[bad[0]])}; expected degrees within ±{lim:g} "
                f"({bad.size} such rows)",
                hint="every access point needs a valid lat and lon",
            )
    if table.column("ident").null_count:
        raise InputError(
            f"{origin}: {table.column('ident').null_count} rows have no ident (BSSID or cell id)"
        )
    kind = (
        table.column("kind").cast(pa.string()).fill_null("wifi")
        if "kind" in table.column_names
        else pa.array(["wifi"] * n, pa.string())
    )
    kinds = np.asarray(kind.to_pylist(), dtype=object)
    rad = _f64(table, "radius_m")
    rad = np.where(np.isfinite(rad), rad, _per_kind(DEFAULT_RADIUS_M, kinds) if n else rad)
    unc = _f64(table, "uncertainty_m")
    unc = np.where(np.isfinite(unc), unc, _per_kind(DEFAULT_UNCERTAINTY_M, kinds) if n else unc)

    def opt(name: str, typ: pa.DataType) -> pa.Array | pa.ChunkedArray:
        if name in table.column_names:
            return table.column(name).cast(typ)
        return pa.nulls(n, typ)

    return pa.Table.from_arrays(
        [
            pa.array(kinds.tolist(), pa.string()),
            table.column("ident").cast(pa.string()),
            table.column("lat").cast(pa.float64()),
            table.column("lon").cast(pa.float64()),
            pa.array(rad),
            pa.array(unc),
            opt("n_obs", pa.int64()),
            opt("n_positions", pa.int64()),
            opt("rssi_max_dbm", pa.float64()),
            opt("origin", pa.string()) if "origin" in table.column_names else pa.array(["supplied"] * n),
        ],
        schema=AP_TABLE,
    )


def _read_csv_strings(path: Path) -> tuple[pa.Table, list[int]]:
    """A CSV file as a table of strings (nothing inferred: a BSSID of digits keeps its leading zeros),
    with the line each row ended on."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        sample = fh.read(4096)
        fh.seek(0)
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(fh, dialect)
        header = next(reader, None)
        if header is None:
            raise csv.Error("the file is empty")
        header = [h.strip() for h in header]
        data: list[list[str | None]] = [[] for _ in header]
        lines: list[int] = []
        for rec in reader:
            if not any(v.strip() for v in rec):
                continue
            for j in range(len(header)):
                data[j].append(rec[j] if j < len(rec) else None)
            lines.append(reader.line_num)
    return pa.table({h: pa.array(col, pa.string()) for h, col in zip(header, data, strict=True)}), lines


def read_ap_table(path: str | Path, *, max_errors: int = 10) -> pa.Table:
    """Read an access-point table the user supplies: CSV (with a header line) or Parquet, with columns
    ``bssid`` (or ``ident``), ``lat``, ``lon`` and optionally ``radius_m``, ``uncertainty_m`` and
    ``kind`` (``wifi``, the default, or ``cell`` with ident ``mcc,mnc,lac,cid``).

    Every bad row is refused with an :class:`InputError` naming the file, the line (CSV, counting the
    header as line 1) or row (Parquet, from 1), the field and what was expected (the first
    ``max_errors`` of them); a BSSID given twice is an error too. Returns :data:`AP_TABLE`.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file", hint="give a CSV or Parquet file with bssid, lat, lon")
    with p.open("rb") as fh:
        magic = fh.read(4)
    lines: list[int] | None = None
    try:
        if magic == b"PAR1":
            import pyarrow.parquet as pq

            raw = pq.read_table(p)
            unit = "row"
        else:
            raw, lines = _read_csv_strings(p)
            unit = "line"
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(
            f"{p}: cannot read it as CSV or Parquet ({exc})",
            hint="a CSV file with a header line bssid,lat,lon[,radius_m], or a Parquet file with those columns",
        ) from exc
    cols = {c.strip().lower(): c for c in raw.column_names}
    id_col = cols.get("bssid") or cols.get("ident") or cols.get("mac")
    missing = [
        name for name, c in (("bssid", id_col), ("lat", cols.get("lat")), ("lon", cols.get("lon"))) if not c
    ]
    if missing:
        raise InputError(
            f"{p}: no column {', '.join(missing)} (columns: {', '.join(raw.column_names) or 'none'})",
            hint="an access-point table needs bssid (or ident), lat and lon, optionally radius_m",
        )
    n = raw.num_rows
    errors: list[str] = []
    where = lines if lines is not None else list(range(1, n + 1))

    def text(col: str | None) -> list[str | None]:
        if col is None:
            return [None] * n
        return [None if v is None else str(v).strip() for v in raw.column(col).to_pylist()]

    def number(name: str, col: str | None, lo: float, hi: float, required: bool, expect: str) -> F64:
        vals = text(col)
        out = np.full(n, np.nan)
        for i, v in enumerate(vals):
            if v is None or v == "":
                if required:
                    errors.append(f"{unit} {where[i]}: field {name!r} is empty; expected {expect}")
                continue
            try:
                f = float(v)
            except ValueError:
                errors.append(f"{unit} {where[i]}: field {name!r} is {v[:40]!r}; expected {expect}")
                continue
            if not (math.isfinite(f) and lo <= f <= hi):
                errors.append(f"{unit} {where[i]}: field {name!r} is {v[:40]!r}; expected {expect}")
                continue
            out[i] = f
        return out

    lat = number("lat", cols.get("lat"), -90.0, 90.0, True, "a latitude in degrees, -90 to 90")
    lon = number("lon", cols.get("lon"), -180.0, 180.0, True, "a longitude in degrees, -180 to 180")
    rad = number("radius_m", cols.get("radius_m"), 1e-9, 1e6, False, "a coverage radius in metres, > 0")
    unc = number(
        "uncertainty_m", cols.get("uncertainty_m"), 0.0, 1e6, False, "an uncertainty in metres, >= 0"
    )
    kinds_raw = text(cols.get("kind"))
    idents: list[str] = []
    kinds: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for i, (k, v) in enumerate(zip(kinds_raw, text(id_col), strict=True)):
        kind = (k or "wifi").lower()
        if kind not in ("wifi", "cell"):
            errors.append(f"{unit} {where[i]}: field 'kind' is {k!r}; expected wifi or cell")
            kind = "wifi"
        norm = None
        if v:
            norm = normalise_bssid(v) if kind == "wifi" else _normalise_cell(v)
        if norm is None:
            expect = "a BSSID like aa:bb:cc:dd:ee:ff" if kind == "wifi" else "a cell id mcc,mnc,lac,cid"
            errors.append(f"{unit} {where[i]}: field {id_col!r} is {(v or '')[:40]!r}; expected {expect}")
            norm = ""
        elif (kind, norm) in seen:
            errors.append(
                f"{unit} {where[i]}: {kind} {norm} is given twice (first on {unit} {seen[(kind, norm)]})"
            )
        else:
            seen[(kind, norm)] = where[i]
        idents.append(norm)
        kinds.append(kind)
    if errors:
        errors.sort(key=lambda e: int(e.split(":", 1)[0].split()[1]))
        more = f" (and {len(errors) - max_errors} more)" if len(errors) > max_errors else ""
        raise InputError(
            f"{p}: {len(errors)} bad access-point rows: " + "; ".join(errors[:max_errors]) + more,
            hint="each row needs a BSSID (aa:bb:cc:dd:ee:ff), lat and lon in degrees, and an optional "
            "radius_m > 0",
        )
    karr = np.asarray(kinds, dtype=object)
    rad = np.where(np.isfinite(rad), rad, _per_kind(DEFAULT_RADIUS_M, karr) if n else rad)
    unc = np.where(np.isfinite(unc), unc, _per_kind(DEFAULT_UNCERTAINTY_M, karr) if n else unc)
    return pa.table(
        {
            "kind": pa.array(kinds, pa.string()),
            "ident": pa.array(idents, pa.string()),
            "lat": pa.array(lat),
            "lon": pa.array(lon),
            "radius_m": pa.array(rad),
            "uncertainty_m": pa.array(unc),
            "n_obs": pa.nulls(n, pa.int64()),
            "n_positions": pa.nulls(n, pa.int64()),
            "rssi_max_dbm": pa.nulls(n, pa.float64()),
            "origin": pa.array(["supplied"] * n, pa.string()),
        },
        schema=AP_TABLE,
    )


# ----------------------------------------------------------------------------------------- the store
@dataclass
class ScanPositioning:
    """What :func:`position_stored_scans` did: scans found, left alone because their device had a fix
    then, positioned, and fixes added to the store (``source_id``, null when nothing was written)."""

    entities: list[str]
    n_scans: int = 0
    n_with_fix: int = 0
    n_positioned: int = 0
    n_added: int = 0
    n_duplicates: int = 0
    n_access_points: int = 0
    ap_origin: str = "learned"
    source_id: int | None = None
    fixes: pa.Table = field(default_factory=schemas.FIX.empty_table, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "entities": list(self.entities),
            "n_scans": self.n_scans,
            "n_with_fix": self.n_with_fix,
            "n_positioned": self.n_positioned,
            "n_added": self.n_added,
            "n_duplicates": self.n_duplicates,
            "n_access_points": self.n_access_points,
            "ap_origin": self.ap_origin,
            "source_id": self.source_id,
        }


def scan_times(scans: pa.Table) -> tuple[NDArray[np.object_], I64]:
    """The distinct (device, time) pairs of ``scans``: one per scan."""
    if scans.num_rows == 0:
        return np.zeros(0, dtype=object), np.zeros(0, np.int64)
    pairs = scans.select(["device", "t"]).group_by(["device", "t"]).aggregate([])
    return (
        np.asarray(pairs.column("device").cast(pa.string()).to_pylist(), dtype=object),
        _us(pairs, "t"),
    )


def scans_without_fix(scans: pa.Table, fixes: pa.Table, *, window_s: float = 60.0) -> pa.Table:
    """The rows of ``scans`` whose device has no fix within ``window_s`` of the scan's time (any
    provider, positioned scans included: positioning again adds nothing)."""
    if scans.num_rows == 0 or fixes.num_rows == 0:
        return scans
    sdev = scans.column("device").cast(pa.string())
    fdev = fixes.column("device").cast(pa.string())
    devs = pc.unique(pa.chunked_array(sdev.chunks + fdev.chunks, pa.string()))
    scode = np.asarray(pc.index_in(sdev, value_set=devs).to_numpy(zero_copy_only=False), np.int64)
    fcode = np.asarray(pc.index_in(fdev, value_set=devs).to_numpy(zero_copy_only=False), np.int64)
    st, ft = _us(scans, "t"), _us(fixes, "t")
    t0 = int(min(st.min(), ft.min()))
    win = int(window_s * 1e6)
    span = int(max(st.max(), ft.max())) - t0 + 2 * win + 1
    fkey = np.sort(fcode * span + (ft - t0))
    skey = scode * span + (st - t0)
    lo = np.searchsorted(fkey, skey - win, side="left")
    hi = np.searchsorted(fkey, skey + win, side="right")
    # a window never reaches another device's fixes: devices are more than two windows apart on the key
    return scans.filter(pa.array(hi <= lo))


def _carry_tz(positioned: pa.Table, fixes: pa.Table) -> pa.Table:
    """Fill ``tz_offset_s`` of positioned fixes from the device's nearest fix in time that has one."""
    if positioned.num_rows == 0 or "tz_offset_s" not in fixes.column_names:
        return positioned
    f = fixes.filter(pc.is_valid(fixes.column("tz_offset_s")))
    if f.num_rows == 0:
        return positioned
    pdev = positioned.column("device").cast(pa.string())
    fdev = f.column("device").cast(pa.string())
    devs = pc.unique(pa.chunked_array(pdev.chunks + fdev.chunks, pa.string()))
    pcode = np.asarray(pc.index_in(pdev, value_set=devs).to_numpy(zero_copy_only=False), np.int64)
    fcode = np.asarray(pc.index_in(fdev, value_set=devs).to_numpy(zero_copy_only=False), np.int64)
    pt, ft = _us(positioned, "t"), _us(f, "t")
    tz = np.asarray(f.column("tz_offset_s").cast(pa.int64()).to_numpy(zero_copy_only=False), np.int64)
    t0 = int(min(pt.min(), ft.min()))
    span = int(max(pt.max(), ft.max())) - t0 + 1
    fkey = fcode * span + (ft - t0)
    order = np.argsort(fkey, kind="stable")
    fkey, fc, tz = fkey[order], fcode[order], tz[order]
    pkey = pcode * span + (pt - t0)
    i = np.searchsorted(fkey, pkey)
    prev = np.clip(i - 1, 0, fkey.size - 1)
    nxt = np.clip(i, 0, fkey.size - 1)
    ok_p = (i > 0) & (fc[prev] == pcode)
    ok_n = (i < fkey.size) & (fc[nxt] == pcode)
    use_prev = ok_p & (~ok_n | (pkey - fkey[prev] <= fkey[nxt] - pkey))
    val = np.where(use_prev, tz[prev], tz[nxt])
    has = ok_p | ok_n
    arr = pa.array(val.astype(np.int32), pa.int32(), mask=~has)
    return positioned.set_column(positioned.schema.get_field_index("tz_offset_s"), "tz_offset_s", arr)


def position_stored_scans(
    db: Database,
    entity: str | None = None,
    *,
    ap_table: pa.Table | str | os.PathLike[str] | None = None,
    fix_window_s: float = 60.0,
    write: bool = True,
    learn_options: Mapping[str, Any] | None = None,
    **position_options: Any,
) -> ScanPositioning:
    """Position the stored scans of ``entity`` (every entity when None) that came without a fix (no fix
    of the device within ``fix_window_s``) and, with ``write``, add them to the store as fixes of a
    new source, in one transaction (fixes already stored are counted as duplicates, not added).

    The access points come from ``ap_table`` (a table, or a CSV/Parquet file for
    :func:`read_ap_table`) or else are learned per entity from its own fixes and scans
    (:func:`learn_access_points` with ``learn_options``). ``position_options`` go to
    :func:`position_scans`.
    """
    supplied: pa.Table | None = None
    origin = "learned"
    if isinstance(ap_table, str | os.PathLike):
        supplied = read_ap_table(Path(ap_table))
        origin = str(Path(ap_table).resolve())
    elif ap_table is not None:
        supplied = validate_ap_table(ap_table)
        origin = "supplied"
    if entity is not None:
        db._require_entity(entity)
        names = [entity]
    else:
        names = db.entity_names()
    result = ScanPositioning(entities=names, ap_origin=origin)
    parts: list[pa.Table] = []
    n_aps = 0
    for name in names:
        scans = db.scans(name)
        if scans.num_rows == 0:
            continue
        fixes = db.fixes(name)
        result.n_scans += len(scan_times(scans)[1])
        todo = scans_without_fix(scans, fixes, window_s=fix_window_s)
        result.n_with_fix += len(scan_times(scans)[1]) - len(scan_times(todo)[1])
        if todo.num_rows == 0:
            continue
        aps = (
            supplied
            if supplied is not None
            else learn_access_points(fixes, scans, **dict(learn_options or {}))
        )
        n_aps = max(n_aps, aps.num_rows) if supplied is not None else n_aps + aps.num_rows
        positioned = position_scans(todo, aps, **position_options)
        parts.append(_carry_tz(positioned, fixes))
    result.n_access_points = n_aps
    out = pa.concat_tables(parts) if parts else schemas.FIX.empty_table()
    result.fixes = out
    result.n_positioned = out.num_rows
    if not write or out.num_rows == 0:
        return result
    options = {
        "positioning": "wifi",
        "entity": entity,
        "ap_table": origin,
        "fix_window_s": fix_window_s,
        "learn": dict(learn_options or {}),
        "position": dict(position_options),
    }
    label = entity if entity is not None else "all entities"
    with db.store.begin_import(
        origin=f"Wi-Fi/cell positioning of the scans of {label} (access points: {origin})",
        checksum=None,
        options=options,
        entity=None,
    ) as txn:
        added = txn.write("fix", out)
        counts = {
            "read": out.num_rows,
            "fixes": added,
            "duplicates": out.num_rows - added,
        }
        txn.finish(counts, "wifi_positioning")
        result.source_id = txn.source_id
    result.n_added = added
    result.n_duplicates = out.num_rows - added
    return result


def store_scans(db: Database, scans: pa.Table, *, origin: str, entity: str | None = None) -> int:
    """Add a ``scan``-tier table (such as a simulator's ``scans.parquet``) to the store as one source, in
    one transaction; scans already stored are not added again. Returns the scan rows added."""
    scans = schemas.validate(scans.select([c for c in scans.column_names if c in schemas.SCAN.names]), "scan")
    with db.store.begin_import(
        origin=origin, checksum=None, options={"scans": origin, "entity": entity}, entity=entity
    ) as txn:
        added = txn.write("scan", scans)
        txn.finish(
            {"read": scans.num_rows, "scans": added, "duplicates": scans.num_rows - added}, "scan_table"
        )
    return added
