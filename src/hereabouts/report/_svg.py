"""Hand-made inline SVG charts of the profile report (no chart library, no script): the
time-of-week heatmap, the stays timeline and the data-coverage chart. Every piece of text is
escaped; every mark carries a ``<title>`` with its exact value for a tooltip."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa

from .profile import DayCoverage

__all__ = ["COLOURS", "coverage_svg", "heatmap_svg", "timeline_svg"]

#: Fill colour of each place category (and of stays at no known place).
COLOURS = {
    "home": "#c0392b",
    "work": "#1f5fa8",
    "regular": "#2e8b57",
    "other": "#8c8c8c",
    None: "#cfcfcf",
}
_DOW = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _svg(id_: str, width: float, height: float, body: Iterable[str], label: str) -> str:
    return (
        f'<svg id="{id_}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_e(label)}" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" {_FONT}>'
        + "".join(body)
        + "</svg>"
    )


def heatmap_svg(occupancy: pa.Table, categories: Mapping[str, str]) -> str:
    """7 × 24 cells (local day of week × hour): the colour of the place the entity was at in most of
    the observed weeks, its opacity that share of weeks; grey where it was at no place."""
    cell_w, cell_h, left, top = 26, 22, 40, 22
    best: dict[tuple[int, int], dict[str, object]] = {}
    for r in occupancy.to_pylist():
        key = (int(r["dow"]), int(r["hour"]))
        cur = best.get(key)
        if cur is None or float(r["share"]) > float(cur["share"]):  # type: ignore[arg-type]
            best[key] = r
    body: list[str] = []
    for h in range(0, 24, 3):
        body.append(f'<text x="{left + h * cell_w + 2}" y="{top - 7}" fill="#555">{h:02d}h</text>')
    for d in range(7):
        y = top + d * cell_h
        body.append(f'<text x="4" y="{y + cell_h - 7}" fill="#333">{_DOW[d]}</text>')
        for h in range(24):
            x = left + h * cell_w
            r = best.get((d, h))
            if r is None:
                body.append(
                    f'<rect class="cell empty" x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" '
                    f'fill="#f1f1f1"><title>{_DOW[d]} {h:02d}:00: at no place in any observed week</title></rect>'
                )
                continue
            pid = str(r["place_id"])
            cat = categories.get(pid, "other")
            share = float(r["share"])  # type: ignore[arg-type]
            tip = (
                f"{_DOW[d]} {h:02d}:00–{(h + 1) % 24:02d}:00: {cat} place {pid}, "
                f"{r['weeks_present']} of {r['weeks_observed']} observed weeks ({share:.0%})"
            )
            body.append(
                f'<rect class="cell {cat}" x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" '
                f'fill="{COLOURS[cat]}" fill-opacity="{max(share, 0.12):.2f}"><title>{_e(tip)}</title></rect>'
            )
    width = left + 24 * cell_w + 4
    height = top + 7 * cell_h + 4
    return _svg("hb-heatmap", width, height, body, "time-of-week heatmap of places")


def _local_pieces(
    start: datetime, end: datetime, z: ZoneInfo, first: date, n_days: int
) -> Iterable[tuple[int, float, float]]:
    """(row, start hour, end hour) pieces of ``[start, end)`` cut at local midnights."""
    s, e = start.astimezone(z), end.astimezone(z)
    day = s.date()
    while day <= e.date():
        d0 = datetime(day.year, day.month, day.day, tzinfo=z)
        nxt = day + timedelta(days=1)
        d1 = datetime(nxt.year, nxt.month, nxt.day, tzinfo=z)
        a, b = max(s, d0), min(e, d1)
        row = (day - first).days
        if b > a and 0 <= row < n_days:
            # local wall-clock hours (a 23- or 25-hour day is drawn on the same 24-hour axis)
            ha = _wall(a)
            hb = 24.0 if b >= d1 else max(_wall(b), ha)
            yield row, ha, hb
        day = nxt


def _wall(t: datetime) -> float:
    return t.hour + t.minute / 60 + t.second / 3600 + t.microsecond / 3.6e9


def timeline_svg(
    stays: pa.Table, days: list[DayCoverage], gaps: Iterable[tuple[datetime, datetime]], tz: str
) -> str:
    """One row per local day, 00–24 h: each stay a bar coloured by its place's category; gaps in
    the data (no fix for over an hour) a hatched strip under the row."""
    z = ZoneInfo(tz)
    n = len(days)
    row_h = 16 if n <= 60 else 10
    left, top, hour_w = 78, 18, 28
    first = days[0].day if days else date(1970, 1, 1)
    body = [
        '<defs><pattern id="hb-gap" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="3" height="6" fill="#e0a0a0"/></pattern></defs>'
    ]
    for h in range(0, 25, 3):
        x = left + h * hour_w
        body.append(
            f'<line x1="{x}" y1="{top - 4}" x2="{x}" y2="{top + n * row_h}" stroke="#e2e2e2"/>'
            f'<text x="{x - 8}" y="{top - 6}" fill="#555">{h:02d}</text>'
        )
    for i, d in enumerate(days):
        y = top + i * row_h
        body.append(
            f'<text x="4" y="{y + row_h - 4}" fill="#333">{_DOW[d.day.weekday()]} {d.day:%m-%d}</text>'
        )
    for g0, g1 in gaps:
        for row, ha, hb in _local_pieces(g0, g1, z, first, n):
            y = top + row * row_h
            body.append(
                f'<rect class="gap" x="{left + ha * hour_w:.1f}" y="{y + row_h - 5}" '
                f'width="{max((hb - ha) * hour_w, 0.5):.1f}" height="4" fill="url(#hb-gap)">'
                f"<title>no data {_hm(ha)}–{_hm(hb)}</title></rect>"
            )
    names = stays.column_names
    for r in stays.select([c for c in ("start", "end", "place_id", "category") if c in names]).to_pylist():
        cat = r.get("category")
        colour = COLOURS.get(cat, COLOURS[None])
        what = f"{cat} place {r['place_id']}" if r.get("place_id") else "no known place"
        s_loc, e_loc = r["start"].astimezone(z), r["end"].astimezone(z)
        tip = f"{s_loc:%a %Y-%m-%d %H:%M} – {e_loc:%a %Y-%m-%d %H:%M}: {what}"
        for row, ha, hb in _local_pieces(r["start"], r["end"], z, first, n):
            y = top + row * row_h
            body.append(
                f'<rect class="stay {_e(cat or "none")}" x="{left + ha * hour_w:.1f}" y="{y + 1}" '
                f'width="{max((hb - ha) * hour_w, 0.8):.1f}" height="{row_h - 7}" fill="{colour}">'
                f"<title>{_e(tip)}</title></rect>"
            )
    width = left + 24 * hour_w + 8
    height = top + max(n, 1) * row_h + 4
    return _svg("hb-timeline", width, height, body, "stays timeline by local day")


def _hm(hours: float) -> str:
    m = round(hours * 60)
    return f"{m // 60:02d}:{m % 60:02d}"


def coverage_svg(days: list[DayCoverage]) -> str:
    """One bar per local day: the hours with data (of the day's hours in the period, drawn as a
    light frame behind it); the day's fix count in its title."""
    n = max(len(days), 1)
    bar_w = max(3.0, min(28.0, 760.0 / n))
    left, top, plot_h = 34, 10, 120
    body = []
    for h in (0, 6, 12, 18, 24):
        y = top + plot_h - h / 24 * plot_h
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + n * bar_w:.1f}" y2="{y:.1f}" stroke="#e6e6e6"/>'
            f'<text x="4" y="{y + 4:.1f}" fill="#555">{h} h</text>'
        )
    for i, d in enumerate(days):
        x = left + i * bar_w
        frame = d.hours / 24 * plot_h
        bar = d.hours_with_data / 24 * plot_h
        tip = (
            f"{d.day.isoformat()}: {d.hours_with_data:.1f} of {d.hours:.1f} h with data, {d.n_fixes:,} fixes"
        )
        body.append(
            f'<rect x="{x + 1:.1f}" y="{top + plot_h - frame:.1f}" width="{bar_w - 2:.1f}" height="{frame:.1f}" '
            f'fill="none" stroke="#cccccc"/>'
            f'<rect class="day" x="{x + 1:.1f}" y="{top + plot_h - bar:.1f}" width="{bar_w - 2:.1f}" '
            f'height="{bar:.1f}" fill="#4a7fb0"><title>{_e(tip)}</title></rect>'
        )
    step = max(1, math.ceil(36 / bar_w))  # a label is about 32 px wide
    for i in range(0, len(days), step):
        x = left + i * bar_w
        body.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" fill="#555">{days[i].day:%m-%d}</text>')
    width = left + n * bar_w + 40
    return _svg("hb-coverage", width, top + plot_h + 22, body, "hours with data per day")
