"""Run trackintel's stay detector on the same fixes as hereabouts and bring both results to one shape,
for the benchmark (``benchmarks/stays.py``) and the equivalence tests. Peers are optional: :func:`have`
says whether one is installed."""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

TRACKINTEL_VERSION = "1.4.2"


def have(name: str) -> bool:
    """Whether the peer package ``name`` can be imported."""
    return importlib.util.find_spec(name) is not None


def fixes_table(
    user: NDArray[Any], t_us: NDArray[np.int64], lat: NDArray[np.float64], lon: NDArray[np.float64]
) -> pa.Table:
    """A hereabouts fix table (``device``, ``t``, ``lat``, ``lon``) from columns."""
    return pa.table(
        {
            "device": pa.array(np.asarray(user).astype(str)),
            "t": pa.array(t_us, pa.int64()).view(pa.timestamp("us", tz="UTC")),
            "lat": pa.array(lat),
            "lon": pa.array(lon),
        }
    )


def trackintel_staypoints(
    user: NDArray[Any],
    t_us: NDArray[np.int64],
    lat: NDArray[np.float64],
    lon: NDArray[np.float64],
    *,
    dist_threshold: float,
    time_threshold: float,
    gap_threshold: float,
    include_last: bool = False,
    exclude_duplicate_pfs: bool = True,
) -> pd.DataFrame:
    """trackintel's ``generate_staypoints(method="sliding")`` on these fixes: columns user_id (as
    str), started_at, finished_at (int64 µs), lat, lon; sorted by user and start."""
    import geopandas as gpd
    import trackintel as ti

    df = pd.DataFrame(
        {
            "user_id": np.asarray(user).astype(str),
            "tracked_at": pd.to_datetime(t_us, unit="us", utc=True),
        }
    )
    pfs = ti.Positionfixes(gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "duplicates were dropped", "No staypoints can be generated"
        _, sp = pfs.generate_staypoints(
            method="sliding",
            distance_metric="haversine",
            dist_threshold=dist_threshold,
            time_threshold=time_threshold,
            gap_threshold=gap_threshold,
            include_last=include_last,
            exclude_duplicate_pfs=exclude_duplicate_pfs,
            n_jobs=1,
        )
    return _frame(
        sp["user_id"].astype(str).to_numpy(),
        _to_us(sp["started_at"]),
        _to_us(sp["finished_at"]),
        sp.geometry.y.to_numpy() if len(sp) else np.zeros(0),
        sp.geometry.x.to_numpy() if len(sp) else np.zeros(0),
    )


def hereabouts_frame(stays: pa.Table) -> pd.DataFrame:
    """A hereabouts stay table in the same shape as the peers' frames."""
    return _frame(
        np.asarray(stays.column("entity").to_pylist(), dtype=object).astype(str),
        stays.column("start").cast(pa.int64()).to_numpy(),
        stays.column("end").cast(pa.int64()).to_numpy(),
        stays.column("lat").to_numpy(),
        stays.column("lon").to_numpy(),
    )


def _to_us(s: pd.Series) -> NDArray[np.int64]:
    if len(s) == 0:
        return np.zeros(0, np.int64)
    ts = pd.to_datetime(s, utc=True)
    return np.asarray(ts.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]").astype(np.int64))


def _frame(
    user: NDArray[Any],
    start: NDArray[np.int64],
    end: NDArray[np.int64],
    lat: NDArray[np.float64],
    lon: NDArray[np.float64],
) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "user_id": np.asarray(user, dtype=object).astype(str),
            "started_at": np.asarray(start, dtype=np.int64),
            "finished_at": np.asarray(end, dtype=np.int64),
            "lat": np.asarray(lat, dtype=np.float64),
            "lon": np.asarray(lon, dtype=np.float64),
        }
    )
    return df.sort_values(["user_id", "started_at", "finished_at"], kind="stable").reset_index(drop=True)
