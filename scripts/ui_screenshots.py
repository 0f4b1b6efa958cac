#!/usr/bin/env python3
"""Make docs/ui-live.png, ui-ask.png, ui-profile.png and ui-admin.png: the web UI over a small simulated town.

    python scripts/ui_screenshots.py [--out-dir docs] [--chromium /usr/bin/chromium] [--seed 5]
        [--agents 4] [--days 8]

A town of a few people over a few days is simulated, imported, and every person is put in the
workspace of a user "demo"; the live server runs on 127.0.0.1 and headless Chromium logs in through the
form. ui-live.png: the live map with everyone's latest position and one person's last day (timeline,
places, playback). ui-ask.png: a question about that person's second day with its evidence on the map.
ui-profile.png: that person's profile (places by kind, statistics). ui-admin.png: geofences and members.
Requests to anywhere but the local server are refused and the pages must log no errors.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq

import hereabouts as hb
from hereabouts.accounts import Accounts
from hereabouts.sim import simulate

REPO = Path(__file__).resolve().parents[1]
START = date(2025, 3, 3)
PASSWORD = "demo-password"


def build(work: Path, agents: int, days: int, seed: int) -> tuple[hb.Database, Accounts, list[str]]:
    """Simulate, import and register the town's people in the workspace "demo"."""
    simulate(agents=agents, days=days, seed=seed, out=work / "town", start=START)
    db = hb.open(work / "ui.db")
    db.import_(work / "town" / "fixes.parquet")
    for r in pq.read_table(work / "town" / "truth" / "devices.parquet").to_pylist():
        if r["agent"]:
            db.assign_device(r["device"], r["agent"])
    acc = Accounts(db.store)
    acc.add_user("demo", PASSWORD)
    people = sorted(n for n in db.entity_names() if n.startswith("agent-"))
    for name in people:
        acc.claim_entity("demo", name)
    # a second member and a geofence, for the administration screenshot
    acc.add_user("sam", PASSWORD)
    acc.set_member("demo", "sam", "viewer")
    if people:
        top = db.places(people[-1]).sort_by([("dwell_s", "descending")]).slice(0, 1).to_pylist()
        if top:
            acc.add_geofence("demo", f"around {people[-1]}'s place", top[0]["lat"], top[0]["lon"], 250.0)
    return db, acc, people


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def shoot(base: str, person: str, day: date, out_dir: Path, chromium: str) -> None:
    from playwright.sync_api import Route, sync_playwright

    refused: list[str] = []
    errors: list[str] = []
    host = base.split("//", 1)[1]

    def route(r: Route) -> None:
        if r.request.url.split("//", 1)[-1].startswith(host + "/"):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            ctx = browser.new_context(viewport={"width": 1400, "height": 860}, timezone_id="Europe/Amsterdam")
            page = ctx.new_page()
            page.set_default_timeout(60_000)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("**/*", route)
            page.goto(base + "/")
            page.wait_for_selector("#login-form", state="visible")
            errors.clear()  # the signed-out check's 401 before logging in
            page.fill("#login-user", "demo")
            page.fill("#login-password", PASSWORD)
            page.click("#login-form button[type=submit]")
            page.wait_for_function("() => window.hb && window.hb.streamOpen")
            page.click(f"#live-table tr[data-entity='{person}'] button")
            page.wait_for_function("() => document.querySelectorAll('#timeline li').length > 0")
            page.wait_for_function("() => document.querySelectorAll('#places tbody tr').length > 0")
            page.locator("#play").evaluate(
                "el => { el.value = String(Math.floor(Number(el.max) * 0.6)); el.dispatchEvent(new Event('input')); }"
            )
            page.wait_for_timeout(500)
            page.screenshot(path=str(out_dir / "ui-live.png"))

            page.fill("#ask-question", f"where was {person} on {day.isoformat()}?")
            page.click("#ask-form button[type=submit]")
            page.wait_for_function("() => window.hb.asked >= 1")
            page.wait_for_timeout(500)
            page.screenshot(path=str(out_dir / "ui-ask.png"))

            # the person's profile: places by kind (home, work...) on the map, and statistics
            page.click("#answer-clear")
            for panel in ("details:has(#live-table)", "#ask-panel", "#entity-panel"):
                page.eval_on_selector(panel, "el => { el.open = false; }")
            page.click("#profile-panel summary")
            page.click("#profile-form button[type=submit]")
            page.wait_for_function("() => window.hb.profiled >= 1", timeout=120_000)
            page.wait_for_timeout(500)
            page.screenshot(path=str(out_dir / "ui-profile.png"))

            # administration: geofences (with the form) and members
            page.eval_on_selector("#profile-panel", "el => { el.open = false; }")
            page.click("#geofence-panel summary")
            page.click("#member-panel summary")
            page.wait_for_selector("#members tr[data-member]")
            page.evaluate("window.hb.map.fitBounds(window.hb.layers.geofences.getBounds().pad(2))")
            page.wait_for_timeout(500)
            page.screenshot(path=str(out_dir / "ui-admin.png"))
        finally:
            browser.close()
    if refused or errors:
        raise SystemExit(f"the page tried the network ({refused}) or logged errors ({errors})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", type=Path, default=REPO / "docs")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--agents", type=int, default=4)
    ap.add_argument("--days", type=int, default=8)
    args = ap.parse_args(argv)

    import uvicorn

    from hereabouts.server import create_app

    with tempfile.TemporaryDirectory() as tmp:
        db, acc, people = build(Path(tmp), args.agents, args.days, args.seed)
        if not people:
            raise SystemExit("the simulated town has nobody in it; try another --seed")
        app = create_app(db, accounts=acc)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.05)
        try:
            args.out_dir.mkdir(parents=True, exist_ok=True)
            day = START + timedelta(days=min(1, args.days - 1))
            shoot(f"http://127.0.0.1:{port}", people[0], day, args.out_dir, args.chromium)
        finally:
            server.should_exit = True
            thread.join(30)
            db.close()
    names = ", ".join(str(args.out_dir / f"ui-{n}.png") for n in ("live", "ask", "profile", "admin"))
    print(f"wrote {names} ({len(people)} people)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
