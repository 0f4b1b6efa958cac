"""Ground-truth simulator: a synthetic town over a real city, a population with routines, devices
with sensor noise, and the truth behind every fix.

>>> from hereabouts.sim import simulate
>>> sim = simulate(agents=2, days=1, seed=7)
>>> sorted(sim.tables())[:3]
['devices', 'fix_truth', 'fixes']
"""

from __future__ import annotations

from ._sensors import MIXED, PROFILES, Profile
from ._simulate import FIX_FILES, TRUTH_TABLES, Simulation, simulate, write

__all__ = ["FIX_FILES", "MIXED", "PROFILES", "TRUTH_TABLES", "Profile", "Simulation", "simulate", "write"]
