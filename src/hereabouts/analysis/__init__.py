"""Analysis stages: pure functions from tier tables to tier tables (fixes ➜ stays ➜ places ➜ ...)."""

from __future__ import annotations

from .stays import StayMethod, detect_stays, stay_confidence

__all__ = ["StayMethod", "detect_stays", "stay_confidence"]
