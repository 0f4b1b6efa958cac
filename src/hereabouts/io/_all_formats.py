"""Imports every reader module so each registers its formats. One module per format family."""

from __future__ import annotations

from . import (  # noqa: F401
    csv_,
    fit,
    geojson,
    geolife,
    geoparquet,
    google_ondevice,
    google_records,
    google_semantic,
    gpx,
    kml,
    owntracks,
    tcx,
)
