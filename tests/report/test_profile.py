"""The profile report: built from a simulated town, opened offline in headless Chromium."""

from __future__ import annotations

import html
import json
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import hereabouts as hb
from hereabouts.cli import app
from hereabouts.report import FIGURES, Profile, load_measured, render_html
from hereabouts.sim import simulate

CHROMIUM = Path("/usr/bin/chromium")
HOSTILE = '"><svg onload="window.__pwned=1"></svg><script>window.__pwned=2</script>&amp; \'x\''
TOWN_PAYLOAD = '<img src=x onerror="window.__pwned=3">Utrecht & co'


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, hb.Database]]:
    d = tmp_path_factory.mktemp("town")
    simulate(agents=4, days=10, seed=3, out=d, profile="gps-1min")
    db = hb.open(d / "h.db")
    db.import_(d / "fixes.parquet")
    for r in pq.read_table(d / "truth" / "devices.parquet").to_pylist():
        if r["agent"]:
            # one person's devices go to an entity with a hostile name
            db.assign_device(r["device"], HOSTILE if r["agent"] == "agent-0003" else r["agent"])
    yield d, db
    db.close()


@pytest.fixture(scope="module")
def report(town: tuple[Path, hb.Database]) -> tuple[Path, Profile]:
    d, db = town
    path = d / "agent-0001.html"
    prof = db.profile("agent-0001", path=path, purpose="testing the report")
    return path, prof


# ------------------------------------------------------------------ what the data says


def test_profile_gathers_every_part(report: tuple[Path, Profile], town: tuple[Path, hb.Database]) -> None:
    _, prof = report
    _, db = town
    assert prof.entity == "agent-0001" and prof.tz == "Europe/Amsterdam"
    assert prof.n_fixes == db.fixes("agent-0001").num_rows
    assert prof.n_places >= 3 and prof.routes.num_rows >= 1
    labels = dict(
        zip(
            prof.anchors.column("label").to_pylist(),
            prof.anchors.column("abstained").to_pylist(),
            strict=False,
        )
    )
    assert labels.get("home") is False  # ten days of one-minute GPS: a home is found
    home = prof.anchors.filter(pa.compute.equal(prof.anchors.column("label"), "home")).to_pylist()[0]
    cats = dict(
        zip(
            prof.places.column("place_id").to_pylist(),
            prof.places.column("category").to_pylist(),
            strict=True,
        )
    )
    assert cats[home["place_id"]] == "home"
    assert len(prof.days) == 10 and sum(d.n_fixes for d in prof.days) == prof.n_fixes
    assert all(0 <= d.hours_with_data <= d.hours <= 25 for d in prof.days)
    assert prof.occupancy.num_rows > 0 and prof.regularity is not None
    assert {s.label for s in prof.stats} >= {"Fixes", "Stays", "Places", "Trips", "Radius of gyration"}


def test_report_is_audited_with_its_purpose(
    report: tuple[Path, Profile], town: tuple[Path, hb.Database]
) -> None:
    _, db = town
    rows = [r for r in db.audit_log().to_pylist() if r["action"] == "profile"]
    assert rows and rows[0]["purpose"] == "testing the report"
    assert json.loads(rows[0]["what"])["entity"] == "agent-0001"
    assert db.verify_audit().ok


def test_unknown_entity_is_refused_before_anything_is_logged(
    town: tuple[Path, hb.Database], tmp_path: Path
) -> None:
    _, db = town
    before = db.audit_log().num_rows
    with pytest.raises(hb.HereaboutsError, match="no entity named 'nobody'"):
        db.profile("nobody", path=tmp_path / "x.html")
    assert db.audit_log().num_rows == before and not (tmp_path / "x.html").exists()


def test_an_alias_names_the_entity(town: tuple[Path, hb.Database]) -> None:
    _, db = town
    db.store.add_alias("agent-0004", "the courier")  # type: ignore[attr-defined]
    prof = db.profile("the courier")
    assert prof.entity == "agent-0004" and prof.n_fixes == db.fixes("agent-0004").num_rows > 0


def test_empty_period_still_renders(town: tuple[Path, hb.Database], tmp_path: Path) -> None:
    _, db = town
    t0, t1 = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)
    prof = db.profile("agent-0002", path=tmp_path / "empty.html", start=t0, end=t1)
    assert prof.n_fixes == 0 and prof.n_places == 0
    text = (tmp_path / "empty.html").read_text()
    assert 'id="hb-nodata"' in text and 'id="hb-heatmap"' in text


# ------------------------------------------------------------------ captions: measured or "not measured"


def test_captions_say_not_measured_without_measurements(report: tuple[Path, Profile], tmp_path: Path) -> None:
    _, prof = report
    text = render_html(prof, measured=load_measured(tmp_path / "missing.json"))
    captions = re.findall(r'<figure data-figure="(\w+)">.*?<figcaption>(.*?)</figcaption>', text, re.S)
    assert {k for k, _ in captions} == set(FIGURES)
    for key, cap in captions:
        assert "Method." in cap
        if FIGURES[key][2]:
            assert "not measured" in cap and "wrong" not in cap and "error rate" not in cap, key
        else:
            assert "none applies" in cap
    assert "missing.json" in text or "no measurements file" in text


def test_captions_quote_measured_numbers_and_nothing_else(
    report: tuple[Path, Profile], tmp_path: Path
) -> None:
    _, prof = report
    f = tmp_path / "measured.json"
    metrics = {
        "stays.f1@gps-1min": 0.9125,
        "stays.f1@cell": 0.2,
        "stays.f1@mixed": 0.5,
        "stays.start_error_median_s@gps-1min": 31.0,
        "home.top1": 0.75,
        "work.top1@gps-1min": float("nan"),
    }
    f.write_text(
        json.dumps(
            {"command": "scripts/measure_accuracy.py --days 21", "date": "2026-11-25", "metrics": metrics}
        )
    )
    text = render_html(prof, measured=load_measured(f))

    def caption(key: str) -> str:
        m = re.search(rf'data-figure="{key}">.*?<figcaption>(.*?)</figcaption>', text, re.S)
        assert m, key
        return m.group(1)

    timeline, anchors = caption("timeline"), caption("anchors")
    # one-minute GPS data: the gps-1min measurement, not the cell or mixed one
    assert 55 <= (prof.fix_interval_s or 0) <= 65
    assert "<code>stays.f1@gps-1min</code> = 0.912 (8.8% wrong)" in timeline
    assert "0.200" not in timeline and "0.500" not in timeline
    assert "<code>stays.start_error_median_s@gps-1min</code> = 31 s" in timeline
    assert "not measured: <code>stays.precision</code>" in timeline
    assert "scripts/measure_accuracy.py --days 21" in timeline and "2026-11-25" in timeline
    # a plain name is used as it is; NaN is not a measurement
    assert "<code>home.top1</code> = 0.750 (25.0% wrong)" in anchors
    assert "not measured: <code>work.top1</code>" in anchors
    assert "none applies" in caption("coverage")
    assert "closest to this data: <b>gps-1min</b>" in text


def test_nearest_profile_follows_the_sampling() -> None:
    from hereabouts.report import Measured, nearest_profile

    m = Measured(metrics={f"stays.f1@{p}": 0.5 for p in ("gps-1min", "gps-15min", "wifi", "cell", "mixed")})
    assert nearest_profile(m, 60.0, 8.0) == "gps-1min"
    assert nearest_profile(m, 900.0, 6.0) == "gps-15min"
    assert nearest_profile(m, 300.0, 80.0) == "wifi"
    assert nearest_profile(m, 600.0, 700.0) == "cell"
    assert nearest_profile(m, None, None) is None
    assert nearest_profile(Measured(metrics={"stays.f1": 0.5}), 60.0, 8.0) is None


def test_unreadable_measurements_say_why(tmp_path: Path) -> None:
    f = tmp_path / "measured.json"
    f.write_text("{not json")
    m = load_measured(f)
    assert not m.metrics and m.problem and "could not be read" in m.problem


# ------------------------------------------------------------------ escaping


def _hostile_profile(town: tuple[Path, hb.Database]) -> Profile:
    _, db = town
    prof: Profile = db.profile(HOSTILE)
    towns = pa.array([TOWN_PAYLOAD] * prof.n_places, pa.string())
    prof.places = prof.places.set_column(prof.places.schema.get_field_index("town"), "town", towns)
    return prof


def test_user_data_is_escaped(town: tuple[Path, hb.Database]) -> None:
    prof = _hostile_profile(town)
    assert prof.entity == HOSTILE
    text = render_html(prof)
    assert HOSTILE not in text and "<svg onload" not in text and "<img src=x" not in text
    assert f'<h1 id="hb-entity">Profile of {html.escape(HOSTILE)}</h1>' in text
    block = re.search(r'<script type="application/json" id="hb-map-data">(.*?)</script>', text, re.S)
    assert block and "<" not in block.group(1)
    assert json.loads(block.group(1))["places"][0]["town"] == TOWN_PAYLOAD  # the data survives, as data


# ------------------------------------------------------------------ the CLI


def test_cli_writes_the_report(town: tuple[Path, hb.Database], tmp_path: Path) -> None:
    d, _ = town
    out = tmp_path / "p.html"
    r = CliRunner().invoke(
        app,
        [
            "--db",
            str(d / "h.db"),
            "profile",
            "agent-0002",
            "--html",
            str(out),
            "--from",
            "2025-03-05",
            "--json",
        ],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["entity"] == "agent-0002" and summary["places"] > 0
    text = out.read_text()
    assert "Profile of agent-0002" in text and "2025-03-05" in text


def test_cli_unknown_entity_exits_2(
    town: tuple[Path, hb.Database],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from hereabouts.cli import main

    d, _ = town
    monkeypatch.setattr(
        sys,
        "argv",
        ["hereabouts", "--db", str(d / "h.db"), "profile", "nobody", "--html", str(tmp_path / "p.html")],
    )
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "no entity named 'nobody'" in err and "agent-0001" in err and "Traceback" not in err


# ------------------------------------------------------------------ in a real browser, offline


def _open(page: Any, path: Path) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    requests: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))

    def route(r: Any) -> None:
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            requests.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(path.as_uri())
    page.wait_for_selector("#hb-map[data-ready=true]", timeout=10_000)
    return problems, requests


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (CI installs it)")
def test_report_renders_offline_in_chromium(
    report: tuple[Path, Profile], town: tuple[Path, hb.Database], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    path, prof = report
    hostile = tmp_path / "hostile.html"
    hostile.write_text(render_html(_hostile_profile(town)))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            problems, requests = _open(page, path)
            assert problems == [] and requests == []
            # the map: one circle per place in the overlay pane, one line per route in its own pane
            assert page.locator("#hb-map .leaflet-overlay-pane path").count() == prof.n_places
            assert page.locator("#hb-map path.hb-route").count() == prof.routes.num_rows
            assert page.locator("#hb-map path.hb-home").count() == 1
            assert page.locator("#hb-map .leaflet-control-scale-line").count() == 1
            assert page.locator("#hb-map .leaflet-tile").count() == 0
            box = page.locator("#hb-map path.hb-home").bounding_box()
            assert box and box["width"] > 5  # drawn inside the visible map, not collapsed
            # the charts
            assert page.locator("#hb-heatmap rect.cell").count() == 168
            busy = {(r["dow"], r["hour"]) for r in prof.occupancy.to_pylist()}
            assert page.locator("#hb-heatmap rect.cell:not(.empty)").count() == len(busy)
            assert page.locator("#hb-timeline rect.stay").count() >= prof.stays.num_rows
            assert page.locator("#hb-coverage rect.day").count() == len(prof.days)
            # anchors with their confidence
            home = prof.anchors.filter(pa.compute.equal(prof.anchors.column("label"), "home")).to_pylist()[0]
            row = page.locator('#hb-anchors tr.anchor[data-label="home"] td.confidence')
            assert row.inner_text().strip().endswith(f"{home['confidence']:.2f}")
            assert page.locator("#hb-grid-step").inner_text() != "?"

            # hostile names: shown as text, never run
            page2 = browser.new_page(viewport={"width": 1200, "height": 900})
            problems2, requests2 = _open(page2, hostile)
            assert problems2 == [] and requests2 == []
            assert page2.locator("#hb-entity").inner_text() == f"Profile of {HOSTILE}"
            assert HOSTILE in page2.title()
            page2.locator("#hb-map path.hb-home").hover()
            tip = page2.locator(".leaflet-tooltip-pane .leaflet-tooltip").filter(has_text="Utrecht & co")
            assert tip.count() == 1 and TOWN_PAYLOAD in tip.inner_text()
            assert page2.evaluate("window.__pwned") is None
        finally:
            browser.close()


def test_timeline_draws_local_wall_clock_across_the_dst_change() -> None:
    from datetime import date

    from hereabouts.report import DayCoverage
    from hereabouts.report._svg import timeline_svg

    ts = pa.timestamp("us", tz="UTC")
    # 09:00-10:00 in Amsterdam on the day before the change to summer time (UTC+1) and on its day (UTC+2)
    starts = [datetime(2025, 3, 29, 8, tzinfo=UTC), datetime(2025, 3, 30, 7, tzinfo=UTC)]
    stays = pa.table(
        {
            "start": pa.array(starts, ts),
            "end": pa.array([datetime(2025, 3, 29, 9, tzinfo=UTC), datetime(2025, 3, 30, 8, tzinfo=UTC)], ts),
            "place_id": ["p", "p"],
            "category": ["work", "work"],
        }
    )
    days = [DayCoverage(date(2025, 3, 29), 24, 24, 0), DayCoverage(date(2025, 3, 30), 23, 23, 0)]
    svg = timeline_svg(stays, days, [], "Europe/Amsterdam")
    bars = re.findall(r'<rect class="stay work" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)"', svg)
    assert len(bars) == 2
    (x1, y1, w1), (x2, y2, w2) = bars
    assert x1 == x2 and w1 == w2 and float(y2) > float(y1)  # same hours, next row
    assert "Sun 2025-03-30 09:00" in svg
