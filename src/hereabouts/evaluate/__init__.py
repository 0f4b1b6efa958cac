"""Scoring inferences against the simulator's ground truth."""

from __future__ import annotations

from .stays import StayScore, match_stays, score_stays

__all__ = ["StayScore", "match_stays", "score_stays"]
