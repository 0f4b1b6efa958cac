"""Analysis stages: pure functions from tier tables to tier tables (fixes ➜ stays ➜ places ➜ ...)."""

from __future__ import annotations

from .places import assign_places, cluster_places
from .stays import StayMethod, detect_stays, stay_confidence
from .trips import build_trips, guess_mode, habitual_routes

__all__ = [
    "StayMethod",
    "assign_places",
    "build_trips",
    "cluster_places",
    "detect_stays",
    "guess_mode",
    "habitual_routes",
    "stay_confidence",
]
