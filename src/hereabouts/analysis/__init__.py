"""Analysis stages: pure functions from tier tables to tier tables (fixes ➜ stays ➜ places ➜ ...)."""

from __future__ import annotations

from .places import assign_places, cluster_places
from .predict import Predictor, evaluate_predictions, fano_bound, fit_predictor, lz_entropy_rate
from .stays import StayMethod, detect_stays, stay_confidence
from .trips import build_trips, guess_mode, habitual_routes

__all__ = [
    "Predictor",
    "StayMethod",
    "assign_places",
    "build_trips",
    "cluster_places",
    "detect_stays",
    "evaluate_predictions",
    "fano_bound",
    "fit_predictor",
    "guess_mode",
    "habitual_routes",
    "lz_entropy_rate",
    "stay_confidence",
]
