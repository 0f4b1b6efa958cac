"""Scoring inferences against the simulator's ground truth.

:func:`evaluate` runs the engine on a simulated folder and scores stays, places, home and work,
trips and modes, habitual routes, next-place predictions (the last week held out) and the
calibration of every confidence, overall and per noise
profile; the metric definitions are in ``docs/accuracy.md``.
"""

from __future__ import annotations

from ._run import Evaluation, evaluate
from .stays import StayScore, match_stays, score_stays

__all__ = ["Evaluation", "StayScore", "evaluate", "match_stays", "score_stays"]
