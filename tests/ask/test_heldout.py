"""The parser on the held-out paraphrase set (``paraphrases_heldout.py``), scored as ``test_blind.py`` scores.

The set was written from the query algebra and the README alone and scored once, as written.
The goal of 95 % was NOT met: on that first run 161 of 184 questions (87.5 %) parsed to the expected
kind with the expected key fields. This test therefore asserts the measured first-run rate, rounded
down, as a regression floor (``FLOOR``); raise it to ``GOAL`` once the parser reaches it.

Two of the first-run misses were party-political questions ("does bob vote labour", "which party
does alice support") that were not refused, only not understood: a gap in the refusals, closed right
after that run (``refusal_reason``'s politics pattern, with its own tests in ``test_parse.py``). With
it the set scores 163 of 184 (88.6 %); no other change to the parser was made on this set.

The parser was then improved with general rules guided by these misses (stays in a short span, bases,
"every time", kinds of place without "the", trip origins, typical weekends and "most Wednesdays",
guesses, ground covered, "who was near <place>", "compare to" and "more in A or B"), so this set is no
longer held out: it now scores 184 of 184 (100 %), and ``FLOOR`` is that rate.

The fresh set (``paraphrases_fresh.py``, 191 questions) was written the same way while those rules
were being made, without seeing the parser, and scored once after they were merged: **181 of 191
(94.8 %)**, just short of the 95 % goal. Its floor is that first score, rounded down; its misses are
left as they are, so that it keeps measuring phrasings the parser was not tuned on.

Run this file with ``-s`` to see the misses; ``python tests/ask/test_heldout.py`` prints them too.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

GOAL = 0.95
FLOOR = 1.0  # 184/184 after the general rules guided by this set (first run: 161/184 = 0.875)
# (module, list, floor): the fresh set's floor is its one first score, 181/191 = 0.948, rounded down
SETS = {
    "heldout": ("paraphrases_heldout.py", "HELDOUT", FLOOR),
    "fresh": ("paraphrases_fresh.py", "FRESH", 0.94),
}


def _load(name: str, file: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(file))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_scorer = _load("ask_test_blind_scorer", "test_blind.py")


def load_heldout(name: str = "heldout") -> list[tuple[str, str, dict[str, Any]]]:
    file, attr, _ = SETS[name]
    data: list[tuple[str, str, dict[str, Any]]] = getattr(_load(f"ask_paraphrases_{name}", file), attr)
    return data


def misses(name: str = "heldout") -> list[tuple[str, str]]:
    out = []
    for question, kind, fields in load_heldout(name):
        why = _scorer.check(question, kind, fields)
        if why is not None:
            out.append((question, why))
    return out


@pytest.mark.parametrize("name", sorted(SETS))
def test_heldout_paraphrases_are_understood(name: str) -> None:
    data = load_heldout(name)
    assert len(data) >= 170
    missed = misses(name)
    rate = 1 - len(missed) / len(data)
    report = "\n".join(f"  {qn!r}: {why}" for qn, why in missed)
    print(f"\n{name} set: {len(data) - len(missed)}/{len(data)} understood ({rate:.1%})\n{report}")
    assert rate >= SETS[name][2], f"{len(missed)} of {len(data)} missed ({rate:.1%} understood):\n{report}"


if __name__ == "__main__":  # pragma: no cover
    for set_name in sorted(SETS):
        m = misses(set_name)
        n = len(load_heldout(set_name))
        print(f"{set_name}: {n - len(m)}/{n} understood ({1 - len(m) / n:.1%})")
        for qn, why in m:
            print(f"- {qn!r}: {why}")
