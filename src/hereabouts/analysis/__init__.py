"""Analysis stages: pure functions from tier tables to tier tables (fixes ➜ stays ➜ places ➜ ...)."""

from __future__ import annotations

from .anchors import ANCHOR, infer_anchors
from .places import assign_places, cluster_places
from .predict import Predictor, evaluate_predictions, fano_bound, fit_predictor, lz_entropy_rate
from .routines import anomalies, regularity, time_of_week_occupancy
from .stays import StayMethod, detect_stays, stay_confidence
from .trips import build_trips, guess_mode, habitual_routes

__all__ = [
    "ANCHOR",
    "Predictor",
    "StayMethod",
    "anomalies",
    "assign_places",
    "build_trips",
    "cluster_places",
    "detect_stays",
    "evaluate_predictions",
    "fano_bound",
    "fit_predictor",
    "guess_mode",
    "habitual_routes",
    "infer_anchors",
    "lz_entropy_rate",
    "regularity",
    "stay_confidence",
    "time_of_week_occupancy",
]
