"""Reports: the profile of one entity as a self-contained, offline HTML page.

>>> from hereabouts.report import build_profile, render_html  # doctest: +SKIP
>>> html = render_html(build_profile(db, "me"))  # doctest: +SKIP

:meth:`hereabouts.Database.profile` is the audited way to make one (it writes the audit log entry
first, like an export); ``hereabouts profile ENTITY --html FILE`` on the command line.
"""

from __future__ import annotations

from ._html import FIGURES, check_target, render_html, write_html
from .measured import Measured, default_measured_path, describe_metrics, load_measured, nearest_profile
from .profile import CATEGORIES, DayCoverage, Profile, Stat, build_profile, resolve_entity

__all__ = [
    "CATEGORIES",
    "FIGURES",
    "DayCoverage",
    "Measured",
    "Profile",
    "Stat",
    "build_profile",
    "check_target",
    "default_measured_path",
    "describe_metrics",
    "load_measured",
    "nearest_profile",
    "render_html",
    "resolve_entity",
    "write_html",
]
