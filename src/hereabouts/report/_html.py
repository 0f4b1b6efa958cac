"""The profile report as one self-contained HTML file.

Leaflet (from the ``xstatic-leaflet`` package) is inlined, its CSS images become ``data:`` URIs, the
charts are inline SVG and the map data is a JSON block: the page loads nothing from anywhere, and
its Content-Security-Policy forbids it to (no tiles either: places and routes are drawn on a plain
background with a grid of parallels and meridians). Every piece of user data (entity, place and
town names, evidence texts) is HTML-escaped, and the map builds its tooltips with ``textContent``.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .._version import __version__
from ..model.errors import InputError
from . import _svg
from .measured import Measured, default_measured_path, describe_metrics, load_measured, nearest_profile
from .profile import CATEGORIES, Profile

__all__ = ["FIGURES", "check_target", "render_html", "write_html"]

#: For each figure: its title, how it is made, and the evaluation metrics that measure it.
FIGURES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "map": (
        "Places and habitual routes",
        "Places are the entity's stays clustered within 100 m (dwell-weighted leader clustering), drawn "
        "as circles whose area grows with the dwell time; home and work (from the anchors) are drawn "
        "with a thick outline. Habitual routes are trips between the same two places grouped by the "
        "shape of their paths (discrete Fréchet distance ≤ 200 m, at least 2 trips), each drawn along "
        "its medoid trip's path, thicker with more trips.",
        ("places.precision", "places.recall", "places.f1", "routes.precision", "routes.recall"),
    ),
    "anchors": (
        "Anchors",
        "Home is the place of most nights (00:00–06:00 local, at least 2 h observed) with night-shift "
        "and second-home rules; work is a non-home place held at least 3 h of the weekday daytime on at "
        "least 40 % of the observed weekdays; regular places are visited in at least 2 weeks and 3 "
        "times. Confidence is the stage's own heuristic; rows below 0.5, or with under 7 days or 4 "
        "nights of data, abstain.",
        ("home.top1", "work.top1", "home.abstention", "work.abstention", "calibration.ece.anchors"),
    ),
    "heatmap": (
        "Time of week",
        "For each local day of the week and hour, the place the entity was at (at least half the hour) "
        "in the most observed weeks; the colour is that place's category and the opacity the share of "
        "observed weeks. Built from the stays and places.",
        ("stays.f1", "places.f1"),
    ),
    "timeline": (
        "Stays by day",
        "Each detected stay (default stay detector: accuracy-aware, tolerant of outliers and of "
        "recording gaps at the same place) as a bar on its local day, coloured by its place's category; "
        "the hatched strips are gaps in the data (no fix for more than an hour).",
        (
            "stays.precision",
            "stays.recall",
            "stays.f1",
            "stays.start_error_median_s",
            "stays.end_error_median_s",
        ),
    ),
    "coverage": (
        "Data coverage",
        "Hours of each local day with data: the day's hours in the period minus the silences of more "
        "than an hour between fixes (the measure answers to questions report); the frame is the day's "
        "hours in the period.",
        (),
    ),
    "stats": (
        "Mobility",
        "Counts and measures of the detected stays, places and trips; each row says how it is computed.",
        ("stays.f1", "places.f1", "trips.f1", "modes.accuracy", "trips.mode_accuracy"),
    ),
}

_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "font-src 'none'; connect-src 'none'; form-action 'none'; base-uri 'none'"
)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


@cache
def _leaflet() -> tuple[str, str, str]:
    """(js, css, version) of the packaged Leaflet, made self-contained."""
    try:
        import xstatic.pkg.leaflet as xl
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise InputError(
            "the profile report needs Leaflet from the xstatic-leaflet package",
            hint="pip install xstatic-leaflet",
        ) from exc
    base = Path(xl.BASE_DIR)
    js = (base / "leaflet.js").read_text(encoding="utf-8")
    js = re.sub(r"//# sourceMappingURL=\S+", "", js)
    js = re.sub(r"</(script)", r"<\\/\1", js, flags=re.IGNORECASE)
    css = (base / "leaflet.css").read_text(encoding="utf-8")

    def inline(m: re.Match[str]) -> str:
        img = base / m.group(1)
        if not img.is_file():
            return "none"
        return "url(data:image/png;base64," + base64.b64encode(img.read_bytes()).decode("ascii") + ")"

    css = re.sub(r"url\((images/[^)]+)\)", inline, css)
    css = css.replace("</", "<\\/")
    return js, css, str(getattr(xl, "VERSION", "?"))


def _json_block(obj: Any) -> str:
    """JSON safe inside a ``<script type="application/json">`` element."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _fmt(t: datetime | None, tz: str) -> str:
    return "–" if t is None else t.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def _finite(v: Any) -> float | None:
    return float(v) if v is not None and math.isfinite(float(v)) else None


def _map_data(p: Profile) -> dict[str, Any]:
    tags: dict[str, list[str]] = {}
    for a in p.anchors.to_pylist():
        if a["abstained"] or a["label"] not in ("home", "work") or not a["place_id"]:
            continue
        text = str(a["label"])
        if a.get("valid_from"):
            text += " from " + _fmt(a["valid_from"], p.tz)[:10]
        if a.get("valid_to"):
            text += " until " + _fmt(a["valid_to"], p.tz)[:10]
        tags.setdefault(str(a["place_id"]), []).append(text)
    places = []
    dwell = [float(d or 0.0) for d in p.places.column("dwell_s").to_pylist()] if p.n_places else []
    top = max(dwell, default=0.0) or 1.0
    for r, dw in zip(p.places.to_pylist(), dwell, strict=True):
        places.append(
            {
                "id": r["place_id"],
                "lat": float(r["lat"]),
                "lon": float(r["lon"]),
                "category": r["category"],
                "radius_px": round(5.0 + 17.0 * math.sqrt(dw / top), 1),
                "dwell_h": round(dw / 3600.0, 1),
                "visits": r.get("n_visits"),
                "town": r.get("town"),
                "tag": ", ".join(tags.get(str(r["place_id"]), [])),
            }
        )
    routes = []
    for r in p.routes.to_pylist():
        path = [[float(q["lat"]), float(q["lon"])] for q in (r.get("path") or []) if q is not None]
        if len(path) >= 2:
            routes.append(
                {
                    "id": r["route_id"],
                    "from": r["from_place"],
                    "to": r["to_place"],
                    "n": int(r["n_trips"]),
                    "mode": r.get("mode"),
                    "minutes": round((_finite(r.get("duration_median_s")) or 0.0) / 60.0),
                    "path": path,
                }
            )
    return {"places": places, "routes": routes, "colours": {k: v for k, v in _svg.COLOURS.items() if k}}


_MAP_JS = r"""
(function () {
  var data = JSON.parse(document.getElementById('hb-map-data').textContent);
  var el = document.getElementById('hb-map');
  if (!data.places.length) { el.textContent = 'No places in this period.'; return; }
  var map = L.map(el, {zoomSnap: 0.25, attributionControl: false});
  map.createPane('hb-grid').style.zIndex = 300;
  map.createPane('hb-routes').style.zIndex = 390;
  var gridR = L.svg({pane: 'hb-grid'}), routeR = L.svg({pane: 'hb-routes'});
  var lat = data.places.map(function (q) { return q.lat; }), lon = data.places.map(function (q) { return q.lon; });
  data.routes.forEach(function (r) { r.path.forEach(function (q) { lat.push(q[0]); lon.push(q[1]); }); });
  var s = Math.min.apply(null, lat), n = Math.max.apply(null, lat);
  var w = Math.min.apply(null, lon), e = Math.max.apply(null, lon);
  var span = Math.max(n - s, e - w, 0.002);
  map.fitBounds([[s - span * 0.08, w - span * 0.08], [n + span * 0.08, e + span * 0.08]]);
  var steps = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20];
  var step = steps.find(function (v) { return span / v <= 8; }) || 30;
  var g0 = Math.floor((s - span * 3) / step) * step, g1 = Math.ceil((n + span * 3) / step) * step;
  var h0 = Math.floor((w - span * 3) / step) * step, h1 = Math.ceil((e + span * 3) / step) * step;
  var grid = {renderer: gridR, color: '#d9d9d9', weight: 1, interactive: false};
  for (var a = g0; a <= g1 + 1e-9; a += step) { L.polyline([[a, h0], [a, h1]], grid).addTo(map); }
  for (var b = h0; b <= h1 + 1e-9; b += step) { L.polyline([[g0, b], [g1, b]], grid).addTo(map); }
  document.getElementById('hb-grid-step').textContent = String(+step.toFixed(4));
  function tip(lines) {
    var box = document.createElement('div');
    lines.forEach(function (t) { var d = document.createElement('div'); d.textContent = t; box.appendChild(d); });
    return box;
  }
  data.routes.forEach(function (r) {
    L.polyline(r.path, {renderer: routeR, color: '#444', opacity: 0.55, weight: 1.5 + Math.min(r.n, 8) * 0.6,
                        className: 'hb-route'})
      .bindTooltip(tip(['route ' + r.id, r.n + ' trips, median ' + r.minutes + ' min' + (r.mode ? ', ' + r.mode : '')]),
                   {sticky: true})
      .addTo(map);
  });
  var order = {other: 0, regular: 1, work: 2, home: 3};
  data.places.slice().sort(function (x, y) { return order[x.category] - order[y.category]; }).forEach(function (q) {
    var key = q.category === 'home' || q.category === 'work';
    var m = L.circleMarker([q.lat, q.lon], {
      radius: q.radius_px, color: key ? '#111' : data.colours[q.category], weight: key ? 3 : 1,
      fillColor: data.colours[q.category], fillOpacity: 0.55, className: 'hb-place hb-' + q.category
    });
    m.bindTooltip(tip([q.category + ' place ' + q.id, q.dwell_h + ' h over ' + q.visits + ' visits',
                       q.town ? 'near ' + q.town : '']), {direction: 'top'});
    m.addTo(map);
    if (key) { L.tooltip({permanent: true, direction: 'right', offset: [q.radius_px, 0], className: 'hb-label'})
                 .setLatLng([q.lat, q.lon]).setContent(tip([q.tag || q.category])).addTo(map); }
  });
  L.control.scale({imperial: false, maxWidth: 160}).addTo(map);
  el.setAttribute('data-ready', 'true');
})();
"""

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:18px 24px 48px}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.2em;margin:1.6em 0 .4em;border-bottom:1px solid #ddd}
.meta{color:#555;font-size:.92em}.note{background:#fff7e0;border:1px solid #f0dca0;padding:6px 10px;font-size:.9em}
figure{margin:0 0 8px;background:#fff;border:1px solid #e3e3e3;padding:10px;overflow-x:auto}
figcaption{font-size:.86em;color:#444;margin-top:8px;line-height:1.45}
figcaption .nm{color:#a15c00;font-weight:600}
#hb-map{height:520px;background:#f4f4f0}
table{border-collapse:collapse;font-size:.9em;background:#fff}td,th{border:1px solid #e3e3e3;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f3f3f3}
.bar{display:inline-block;height:10px;background:#4a7fb0;vertical-align:middle;margin-right:6px}
.abst{color:#888;font-style:italic}.legend span{display:inline-block;margin-right:14px;font-size:.86em}
.legend i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px}
code{font-size:.92em}.hb-label{font-weight:600;background:#fff;border:1px solid #999;padding:1px 4px}
"""


def _legend() -> str:
    return (
        '<div class="legend">'
        + "".join(f'<span><i style="background:{_svg.COLOURS[c]}"></i>{c}</span>' for c in CATEGORIES)
        + f'<span><i style="background:{_svg.COLOURS[None]}"></i>no known place</span></div>'
    )


def _figure(key: str, body: str, measured: Measured, sensor: str | None, extra: str = "") -> str:
    title, method, metrics = FIGURES[key]
    return (
        f'<section id="sec-{key}"><h2>{_e(title)}</h2><figure data-figure="{key}">{body}'
        f'<figcaption><b>Method.</b> {_e(method)}{extra} <span class="measured">'
        f"{describe_metrics(measured, metrics, profile=sensor)}</span></figcaption></figure></section>"
    )


def _stats_table(p: Profile, measured: Measured, sensor: str | None) -> str:
    rows = []
    for s in p.stats:
        rows.append(
            f"<tr><th>{_e(s.label)}</th><td>{_e(s.value)}</td><td>{_e(s.method)}<br>"
            f'<small class="measured">{describe_metrics(measured, s.metrics, profile=sensor, brief=True)}'
            "</small></td></tr>"
        )
    return (
        '<table id="hb-stats"><tr><th>measure</th><th>value</th><th>method</th></tr>'
        + "".join(rows)
        + "</table>"
    )


def _anchors_table(p: Profile) -> str:
    if p.anchors.num_rows == 0:
        return '<p id="hb-anchors">No anchors: no stays to infer them from in this period.</p>'
    rows = []
    for r in p.anchors.to_pylist():
        conf = float(r["confidence"])
        valid = f"{_fmt(r.get('valid_from'), p.tz) if r.get('valid_from') else 'start'} – " + (
            _fmt(r.get("valid_to"), p.tz) if r.get("valid_to") else "end"
        )
        where = (
            '<span class="abst">abstained</span>'
            if r["abstained"]
            else f"{_e(r['place_id'])}<br><small>{r['lat']:.5f}, {r['lon']:.5f}</small>"
        )
        rows.append(
            f'<tr class="anchor" data-label="{_e(r["label"])}" data-confidence="{conf:.3f}"><th>{_e(r["label"])}</th>'
            f"<td>{where}</td>"
            f'<td class="confidence"><span class="bar" style="width:{conf * 80:.0f}px"></span>{conf:.2f}</td>'
            f"<td>{_e(valid)}</td><td>{_e(r['evidence'])}</td></tr>"
        )
    return (
        '<table id="hb-anchors"><tr><th>anchor</th><th>place</th><th>confidence</th><th>valid</th>'
        "<th>evidence</th></tr>" + "".join(rows) + "</table>"
    )


def render_html(profile: Profile, *, measured: Measured | None = None) -> str:
    """The report of ``profile`` as one HTML document (a string); ``measured`` defaults to
    :func:`~hereabouts.report.measured.load_measured`."""
    p = profile
    m = measured if measured is not None else load_measured()
    js, css, leaflet_version = _leaflet()
    categories = {
        str(pid): str(c)
        for pid, c in zip(
            p.places.column("place_id").to_pylist(), p.places.column("category").to_pylist(), strict=True
        )
    }
    period = f"{_fmt(p.start or p.first_fix, p.tz)} to {_fmt(p.end or p.last_fix, p.tz)} ({p.tz})"
    source = (
        "Measurements quoted in the captions: "
        + (
            "those shipped with hereabouts (<code>calibration/measured.json</code>)"
            if m.source == str(default_measured_path())
            else f"<code>{_e(m.source or '')}</code>"
        )
        + (f", from <code>{_e(m.command)}</code>" if m.command else "")
        + (f" on {_e(m.date)}" if m.date else "")
        + "."
        if m.metrics
        else f'No measurements are quoted: <span class="nm">not measured</span> ({_e(m.problem or "no metrics")}).'
    )
    sensor = nearest_profile(m, p.fix_interval_s, p.fix_accuracy_m)
    if m.metrics:
        sampling = (
            f"this data has a median of {p.fix_interval_s:.0f} s between fixes"
            + (f" and a median reported accuracy of {p.fix_accuracy_m:.0f} m" if p.fix_accuracy_m else "")
            if p.fix_interval_s
            else "this data has too few fixes to tell its sampling"
        )
        source += (
            f" Where a metric was measured per simulated sensor profile, the captions quote the profile "
            f"closest to this data: <b>{_e(sensor or 'mixed')}</b> ({sampling}); "
            f"measured profiles: {_e(', '.join(m.profiles()) or 'none named')}."
        )
    gaps = [(g.start, g.end) for g in p.coverage.gaps]
    n_routes = p.routes.num_rows
    map_extra = (
        f" <b>No map tiles are loaded</b> (the file works offline): {p.n_places} places and {n_routes} routes "
        'are drawn on a plain background with parallels and meridians every <span id="hb-grid-step">?</span>°; '
        "the bar at the bottom left is the scale."
    )
    no_data = (
        '<p class="note" id="hb-nodata">No fixes of this entity in the period: the figures below are empty.</p>'
        if p.n_fixes == 0
        else ""
    )
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Profile of {_e(p.entity)} — hereabouts</title>",
        f"<style>{css}</style><style>{_CSS}</style></head><body><main>",
        f'<h1 id="hb-entity">Profile of {_e(p.entity)}</h1>',
        f'<p class="meta">Period: {_e(period)} · generated {_e(_fmt(p.generated, "UTC"))} UTC by hereabouts '
        f"{_e(__version__)} · {_e(p.coverage.describe()) if p.n_fixes else 'no data in this period'}</p>",
        '<p class="note">This report holds personal location data. Its making was written to the audit log '
        "of the database it came from; keep it as carefully as the data. Every figure says how it was made "
        "and how often that method is wrong on simulated ground truth.</p>",
        no_data,
        _figure("stats", _stats_table(p, m, sensor), m, sensor),
        _figure(
            "map",
            '<div id="hb-map" data-places="' + str(p.n_places) + '"></div>' + _legend(),
            m,
            sensor,
            map_extra,
        ),
        _figure("anchors", _anchors_table(p), m, sensor),
        _figure("heatmap", _svg.heatmap_svg(p.occupancy, categories) + _legend(), m, sensor),
        _figure("timeline", _svg.timeline_svg(p.stays, p.days, gaps, p.tz) + _legend(), m, sensor),
        _figure("coverage", _svg.coverage_svg(p.days), m, sensor),
        f'<section id="sec-sources"><h2>Where the numbers come from</h2><p class="meta">{source} '
        f"Map drawn with Leaflet {_e(leaflet_version)} (BSD-2-Clause), inlined.</p></section>",
        f'<script type="application/json" id="hb-map-data">{_json_block(_map_data(p))}</script>',
        f"<script>{js}</script>",
        f"<script>{_MAP_JS}</script>",
        "</main></body></html>",
    ]
    return "\n".join(body)


def check_target(path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`Path` a report can be written to; :class:`InputError` otherwise."""
    out = Path(path)
    if out.is_dir():
        raise InputError(f"{out} is a folder; give a file name such as {out / 'profile.html'}")
    if not out.parent.is_dir():
        raise InputError(
            f"cannot write {out}: the folder {out.parent} does not exist",
            hint="create it or choose another path",
        )
    return out


def write_html(profile: Profile, path: str | os.PathLike[str], *, measured: Measured | None = None) -> Path:
    """Write the report of ``profile`` to ``path`` (atomically: a temporary file renamed into place)."""
    out = check_target(path)
    text = render_html(profile, measured=measured)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out
