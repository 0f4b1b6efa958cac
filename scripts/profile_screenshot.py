#!/usr/bin/env python3
"""Make docs/profile.png: the profile report of one simulated person (14 days of one-minute GPS),
opened offline in headless Chromium and captured whole.

    python scripts/profile_screenshot.py [--out docs/profile.png] [--html profile.html]
        [--chromium /usr/bin/chromium] [--seed 11]

The person shown is the one of a small simulated town with a home and a work place found and the
most habitual routes (ties: the lowest agent number). Network requests are refused: the page must
draw everything from the file itself.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

import hereabouts as hb
from hereabouts.sim import simulate

REPO = Path(__file__).resolve().parents[1]


def build(work: Path, seed: int, html: Path) -> str:
    """Simulate, import, and write the report of the chosen person to ``html``; returns the name."""
    simulate(agents=6, days=14, seed=seed, out=work / "town", profile="gps-1min")
    db = hb.open(work / "h.db")
    try:
        db.import_(work / "town" / "fixes.parquet")
        for r in pq.read_table(work / "town" / "truth" / "devices.parquet").to_pylist():
            if r["agent"]:
                db.assign_device(r["device"], r["agent"])
        best: tuple[int, str] | None = None
        for name in sorted(n for n in db.entity_names() if n.startswith("agent-")):
            prof = db.profile(name, purpose="choosing the person for the documentation screenshot")
            found = {r["label"] for r in prof.anchors.to_pylist() if not r["abstained"]}
            if {"home", "work"} <= found and (best is None or prof.routes.num_rows > best[0]):
                best = (prof.routes.num_rows, name)
        if best is None:
            raise SystemExit("no simulated person with both a home and a work place; try another --seed")
        db.profile(best[1], path=html, purpose="documentation screenshot of a simulated person")
        return best[1]
    finally:
        db.close()


def shoot(html: Path, png: Path, chromium: str) -> None:
    """Open ``html`` with the network refused and save a full-page screenshot to ``png``."""
    from playwright.sync_api import sync_playwright

    refused: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            def route(r: object) -> None:
                req = r.request  # type: ignore[attr-defined]
                if req.url.startswith("file:"):
                    r.continue_()  # type: ignore[attr-defined]
                else:
                    refused.append(req.url)
                    r.abort()  # type: ignore[attr-defined]

            page.route("**/*", route)
            page.goto(html.resolve().as_uri())
            page.wait_for_selector("#hb-map[data-ready=true]", timeout=15_000)
            page.screenshot(path=str(png), full_page=True)
        finally:
            browser.close()
    if refused or errors:
        raise SystemExit(f"the page tried the network ({refused}) or logged errors ({errors})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "profile.png")
    ap.add_argument("--html", type=Path, default=None, help="also keep the report here")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        html = args.html or work / "profile.html"
        name = build(work, args.seed, html)
        shoot(html, args.out, args.chromium)
    print(f"wrote {args.out} (the profile of simulated {name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
