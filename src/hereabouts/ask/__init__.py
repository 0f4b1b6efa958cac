"""Questions about movement: plain English ➜ typed query ➜ answer with evidence.

* :mod:`hereabouts.ask.query` — the query algebra (frozen dataclasses, ``describe()``, JSON, schema);
* :mod:`hereabouts.ask.timeexpr` — the time grammar (periods, moments, recurrences; DST-correct);
* :mod:`hereabouts.ask.parse` — the deterministic parser and its catalogue of question forms;
* :mod:`hereabouts.ask.execute` — answers from a :class:`~hereabouts.Database`.
"""

from __future__ import annotations

from .execute import Answer, Coverage, ask, execute
from .parse import FORMS, parse
from .query import Query, from_dict, json_schema

__all__ = ["FORMS", "Answer", "Coverage", "Query", "ask", "execute", "from_dict", "json_schema", "parse"]
