"""The parser on the blind paraphrase set (``paraphrases_blind.py``, written apart from the parser):
at least 95 % of its questions must parse to the expected kind with the expected key fields.

Run this file with ``-s`` to see the misses; ``python tests/ask/test_blind.py`` prints them too.
"""

from __future__ import annotations

import importlib.util
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hereabouts.ask import query as q
from hereabouts.ask.parse import parse

NOW = datetime(2025, 11, 19, 12, tzinfo=UTC)  # a Wednesday late in the year: every month named is past
TZ = "Europe/Amsterdam"
ENTITIES = ["van 7", "van 9", "alice", "bob", "device B"]
PLACES = {"lake": 1, "depot": 2, "gym": 3}
TOWNS = {t.lower(): t for t in ("Utrecht", "Zeist", "Nieuwegein", "Amersfoort")}
GOAL = 0.95


def load_blind() -> list[tuple[str, str, dict[str, Any]]]:
    spec = importlib.util.spec_from_file_location(
        "ask_paraphrases_blind", Path(__file__).with_name("paraphrases_blind.py")
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    data: list[tuple[str, str, dict[str, Any]]] = mod.BLIND
    return data


def ask(question: str) -> q.Query:
    return parse(
        question,
        entities=ENTITIES,
        places=PLACES,
        towns=TOWNS.get,
        now=NOW,
        tz=TZ,
        default_entity="me",
    )


def _place(ref: object) -> str | None:
    """What a place reference points at, as the blind set writes it."""
    if isinstance(ref, q.Near):
        return _place(ref.ref)
    if isinstance(ref, q.Coordinates):
        return f"{ref.lat:g}, {ref.lon:g}"
    for attr in ("name", "anchor", "place_id"):
        if hasattr(ref, attr):
            return str(getattr(ref, attr))
    return None


def _norm_place(s: str | None) -> str | None:
    if s is None:
        return None
    s = re.sub(r"^the\s+", "", s.strip().lower())
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)", s)
    return f"{float(m[1]):g}, {float(m[2]):g}" if m else s


def _entity(got: q.Query) -> str | None:
    if isinstance(got, q.Compare):
        return _entity(got.query)
    v = getattr(got, "entity", None) or getattr(got, "entity_a", None)
    return str(v) if v is not None else None


def check(question: str, kind: str, fields: dict[str, Any]) -> str | None:
    """None when ``question`` parses as expected, else what differed."""
    got = ask(question)
    if got.kind != kind:
        return f"kind {got.kind} != {kind}: {got.describe()}"
    have: Any
    for key, want in fields.items():
        if key == "entity" and isinstance(got, q.Together) and fields.get("entity_b") is not None:
            # both named: the pair may come out in either order
            have = str(want).lower() in {got.entity_a.lower(), (got.entity_b or "").lower()}
            want = True
        elif key == "entity":
            have = (_entity(got) or "").lower()
            want = str(want).lower()
        elif key == "entity_b":
            assert isinstance(got, q.Together)
            pair = {got.entity_a.lower(), (got.entity_b or "").lower()}
            if want is None:
                have, want = got.entity_b, None
            else:
                have, want = want.lower() in pair, True
        elif key in ("place", "origin", "destination"):
            attr = "area" if isinstance(got, q.InArea) and key == "place" else key
            have = _norm_place(_place(getattr(got, attr, None)))
            want = _norm_place(str(want))
        elif key == "days":
            rec = getattr(got, "recurrence", None)
            have = list(rec.days) if rec is not None else None
            want = list(want)
        elif key == "period":
            have = getattr(got, "period", None) is not None
        else:
            have = getattr(got, key, None)
        if have != want:
            return f"{key} {have!r} != {want!r}: {got.describe()}"
    return None


def misses() -> list[tuple[str, str]]:
    out = []
    for question, kind, fields in load_blind():
        why = check(question, kind, fields)
        if why is not None:
            out.append((question, why))
    return out


def test_blind_paraphrases_are_understood() -> None:
    data = load_blind()
    assert len(data) >= 150
    missed = misses()
    rate = 1 - len(missed) / len(data)
    report = "\n".join(f"  {qn!r}: {why}" for qn, why in missed)
    print(f"\nblind set: {len(data) - len(missed)}/{len(data)} understood ({rate:.1%})\n{report}")
    assert rate >= GOAL, f"{len(missed)} of {len(data)} missed ({rate:.1%} understood):\n{report}"


if __name__ == "__main__":  # pragma: no cover
    m = misses()
    n = len(load_blind())
    print(f"{n - len(m)}/{n} understood ({1 - len(m) / n:.1%})")
    for qn, why in m:
        print(f"- {qn!r}: {why}")
