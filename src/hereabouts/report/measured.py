"""The measured error rates a report quotes: read from ``hereabouts/calibration/measured.json``.

That file is written from a run of ``hereabouts evaluate`` on the simulator's ground truth:
``{"command": str, "date": str, "metrics": {dotted metric name: number}}`` (names as in
``docs/accuracy.md``: ``stays.f1``, ``home.top1``, ``calibration.ece``...). A report never makes a
number up: a metric missing from the file (or the file missing) is said as "not measured".
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

__all__ = [
    "Measured",
    "default_measured_path",
    "describe_metrics",
    "load_measured",
    "nearest_profile",
    "sensor_signatures",
]

#: Metrics whose value is a share of right answers: the error rate is one minus it.
_SHARES = ("precision", "recall", "f1", "top1", "accuracy", "mode_accuracy")


@dataclass(frozen=True)
class Measured:
    """Measured metrics and where they came from; ``problem`` says why there are none."""

    metrics: Mapping[str, float] = field(default_factory=dict)
    command: str | None = None
    date: str | None = None
    source: str | None = None
    problem: str | None = None

    def lookup(self, name: str, profile: str | None = None) -> tuple[str, float] | None:
        """The measured value of ``name`` as ``(key, value)``: for the sensor ``profile``
        (``name@profile``) when measured, else the plain ``name``, else ``name@mixed``; ``None``
        when none of them is a finite number."""
        keys = ([f"{name}@{profile}"] if profile else []) + [name, f"{name}@mixed"]
        for k in keys:
            v = self.metrics.get(k)
            if v is not None and math.isfinite(v):
                return k, v
        return None

    def get(self, name: str, profile: str | None = None) -> float | None:
        hit = self.lookup(name, profile)
        return hit[1] if hit else None

    def profiles(self) -> list[str]:
        """The sensor profiles the metrics were measured for (their ``@`` suffixes), sorted."""
        return sorted({k.split("@", 1)[1] for k in self.metrics if "@" in k})


def sensor_signatures() -> dict[str, tuple[float, float]]:
    """(seconds between fixes, median accuracy in metres) of each periodic simulator profile."""
    from ..sim import PROFILES

    out: dict[str, tuple[float, float]] = {}
    for name, p in PROFILES.items():
        if p.interval_s <= 0 or p.duty_period_s > 0:
            continue  # duty-cycled, significant-change and trackers have no single interval
        acc = (p.accuracy_m[0] + p.accuracy_m[1]) / 2 if p.provider == "gps" else p.accuracy_m[0]
        out[name] = (float(p.interval_s), float(acc))
    return out


def nearest_profile(measured: Measured, interval_s: float | None, accuracy_m: float | None) -> str | None:
    """The measured sensor profile whose sampling interval and accuracy are closest to the data's
    (distance: the sum of the absolute log ratios; accuracy left out when unknown); ``None`` when
    the data has no interval or no profile of the simulator was measured (``mixed`` is then used)."""
    if interval_s is None or interval_s <= 0:
        return None
    sig = sensor_signatures()
    best: tuple[float, str] | None = None
    for name in measured.profiles():
        if name not in sig:
            continue
        i, a = sig[name]
        d = abs(math.log(interval_s / i))
        if accuracy_m is not None and accuracy_m > 0:
            d += abs(math.log(accuracy_m / a))
        if best is None or d < best[0]:
            best = (d, name)
    return best[1] if best else None


def default_measured_path() -> Path:
    """``calibration/measured.json`` inside the installed package."""
    return Path(str(resources.files("hereabouts") / "calibration" / "measured.json"))


def load_measured(path: str | Path | None = None) -> Measured:
    """Read the measured metrics from ``path`` (default :func:`default_measured_path`).

    A missing or unreadable file gives a :class:`Measured` without metrics whose ``problem`` says
    why: the report still renders and says "not measured" rather than failing.
    """
    p = Path(path) if path is not None else default_measured_path()
    if not p.is_file():
        return Measured(source=str(p), problem=f"no measurements file ({p.name}) in this installation")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Measured(source=str(p), problem=f"{p.name} could not be read ({exc})")
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        return Measured(source=str(p), problem=f'{p.name} has no "metrics" object')
    metrics: dict[str, float] = {}
    for k, v in data["metrics"].items():
        if isinstance(v, int | float) and not isinstance(v, bool):
            metrics[str(k)] = float(v)
    command, when = data.get("command"), data.get("date")
    return Measured(
        metrics=metrics,
        command=str(command) if command is not None else None,
        date=str(when) if when is not None else None,
        source=str(p),
    )


def _one(name: str, value: float) -> str:
    parts = name.split("@", 1)[0].split(".")
    leaf = "ece" if "ece" in parts else parts[-1]
    shown = f"<code>{html.escape(name)}</code> = {value:.3f}"
    if leaf in _SHARES and 0.0 <= value <= 1.0:
        what = {"precision": "of those found are wrong", "recall": "of the true ones are missed"}
        return f"{shown} ({1.0 - value:.1%} {what.get(leaf, 'wrong')})"
    if leaf.endswith("_s"):
        return f"<code>{html.escape(name)}</code> = {value:.0f} s"
    if leaf.endswith("_m"):
        return f"<code>{html.escape(name)}</code> = {value:.0f} m"
    if leaf.startswith("ece"):
        return f"{shown} (mean gap between stated confidence and observed frequency)"
    return shown


def describe_metrics(
    measured: Measured, names: Iterable[str], *, profile: str | None = None, brief: bool = False
) -> str:
    """HTML (escaped) that quotes the measured ``names`` (for the sensor ``profile`` when measured,
    see :meth:`Measured.lookup`), or says they are not measured (with the reason unless ``brief``)."""
    names = list(names)
    if not names:
        return "Measured error: none applies (a count of stored data, not an inference)."
    found = [(n, measured.lookup(n, profile)) for n in names]
    have = [hit for _, hit in found if hit is not None]
    if not have:
        why = f" — {html.escape(measured.problem)}" if measured.problem and not brief else ""
        listed = ", ".join(f"<code>{html.escape(n)}</code>" for n in names)
        return f'Measured error: <span class="nm">not measured</span> ({listed}{why}).'
    parts = [_one(n, v) for n, v in have]
    missing = [n for n, hit in found if hit is None]
    text = "Measured error: " + "; ".join(parts)
    if missing:
        text += "; not measured: " + ", ".join(f"<code>{html.escape(n)}</code>" for n in missing)
    if brief:
        return text + "."
    origin = []
    if measured.command:
        origin.append(f"<code>{html.escape(measured.command)}</code>")
    if measured.date:
        origin.append(html.escape(measured.date))
    if origin:
        text += " (measured on simulated ground truth by " + ", ".join(origin) + ")"
    return text + "."
