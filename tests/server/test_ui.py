"""The web UI in a real browser (Debian's Chromium) against a real uvicorn server on 127.0.0.1.

Alice's phone reports a day through OwnTracks HTTP (home, work, home); the browser logs in through
the form, sees the phone on the live map, watches its marker move when a new fix is posted, asks a
question and sees the answer's evidence drawn, plays back the day, and makes, opens and revokes a share
link. Every test also checks that the page logged no console errors (a Content-Security-Policy
violation is one) and that no request left 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import uvicorn

import hereabouts as hb
from hereabouts.accounts import Accounts
from hereabouts.server import create_app

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    if os.environ.get("HEREABOUTS_REQUIRE_CHROMIUM") == "1":
        raise RuntimeError("HEREABOUTS_REQUIRE_CHROMIUM=1 but there is no Chromium at /usr/bin/chromium")
    pytest.skip("needs Chromium at /usr/bin/chromium (CI installs it)", allow_module_level=True)

from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright  # noqa: E402

T0 = 1_739_952_000  # 2025-02-19 08:00 UTC (09:00 in Amsterdam)
HOME = (52.0900, 5.1200)
WORK = (52.1000, 5.1400)
ELSEWHERE = (52.1200, 5.1700)
TIMEOUT_MS = 15_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _day() -> list[dict[str, Any]]:
    """OwnTracks messages: home 08:00-10:00, a trip, work 10:15-13:00, a trip, home 13:15-14:30."""
    msgs: list[dict[str, Any]] = []

    def stay(t0: int, t1: int, at: tuple[float, float]) -> None:
        msgs.extend(
            {"_type": "location", "tst": t, "lat": at[0], "lon": at[1], "acc": 8}
            for t in range(t0, t1 + 1, 300)
        )

    def trip(t0: int, a: tuple[float, float], b: tuple[float, float]) -> None:
        for i in range(1, 15):
            f = i / 15
            lat, lon = a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f
            msgs.append({"_type": "location", "tst": t0 + 60 * i, "lat": lat, "lon": lon, "acc": 8})

    stay(T0, T0 + 7200, HOME)
    trip(T0 + 7200, HOME, WORK)
    stay(T0 + 8100, T0 + 18000, WORK)
    trip(T0 + 18000, WORK, HOME)
    stay(T0 + 18900, T0 + 23400, HOME)
    return msgs


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    db = hb.open(tmp_path_factory.mktemp("ui") / "ui.db")
    acc = Accounts(db.store)
    acc.add_user("alice", "alice-password")
    acc.add_user("erin", "erin-password")  # not a member of alice's workspace until made one
    ingest, _ = acc.add_device("alice", "phone")
    api = acc.add_api_token("alice")
    port = _free_port()
    app = create_app(db, accounts=acc)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    fence = {"name": "Lake <i>north</i>", "lat": ELSEWHERE[0], "lon": ELSEWHERE[1], "radius_m": 200}
    r = httpx.post(
        f"{base}/api/v1/workspaces/alice/geofences", json=fence, headers={"Authorization": f"Bearer {api}"}
    )
    assert r.status_code == 201, r.text
    # the whole day in one OwnTracks request (the app sends its queue as a JSON array)
    r = httpx.post(f"{base}/ingest/owntracks", json=_day(), auth=("alice", ingest), timeout=60)
    assert r.status_code == 200 and r.headers["X-Hereabouts-Rejected"] == "0", r.text
    yield {"db": db, "url": base, "ingest": ingest, "api": api, "acc": acc}
    srv.should_exit = True
    thread.join(30)
    db.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


class Watch:
    """A page's console errors, page errors and requests to anywhere but the test server."""

    def __init__(self, page: Page, base: str) -> None:
        self.errors: list[str] = []
        self.outside: list[str] = []
        host = urlparse(base).netloc

        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error":
                self.errors.append(msg.text)

        def on_request(req: Request) -> None:
            u = urlparse(req.url)
            if u.scheme not in ("data", "blob", "about") and u.netloc != host:
                self.outside.append(req.url)

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("request", on_request)
        # anything for another host is refused outright: the UI must work offline
        page.route(
            "**/*",
            lambda route: route.continue_() if urlparse(route.request.url).netloc == host else route.abort(),
        )

    def check(self) -> None:
        assert self.errors == [], self.errors
        assert self.outside == [], self.outside


def _login(browser: Browser, base: str) -> tuple[Page, Watch]:
    context = browser.new_context(timezone_id="Europe/Amsterdam", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    watch = Watch(page, base)
    page.goto(base + "/")
    page.wait_for_selector("#login-form", state="visible")
    page.fill("#login-user", "alice")
    page.fill("#login-password", "wrong password")
    page.click("#login-form button[type=submit]")
    page.wait_for_function("() => document.getElementById('login-error').textContent.length > 0")
    assert "wrong password" in page.text_content("#login-error")
    # the browser logs the 401s of the signed-out check and the refused login: expected here
    watch.errors = [e for e in watch.errors if "status of 401" not in e]
    page.fill("#login-password", "alice-password")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#app-view", state="visible")
    page.wait_for_function("() => window.hb && window.hb.markers['alice/phone'] && window.hb.streamOpen")
    return page, watch


def _marker(page: Page) -> tuple[float, float]:
    lat, lon = page.evaluate(
        "(() => { const p = window.hb.markers['alice/phone'].getLatLng(); return [p.lat, p.lng]; })()"
    )
    return float(lat), float(lon)


def test_pages_are_served_with_a_strict_csp_and_no_outside_references(server: dict[str, Any]) -> None:
    base = server["url"]
    for path in ("/", "/share/not-a-token", "/ui/app.js", "/ui/leaflet/leaflet.js"):
        r = httpx.get(base + path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
    for name in ("index.html", "share.html", "app.js", "common.js", "share.js", "app.css"):
        text = httpx.get(f"{base}/ui/{name}").text
        assert "http://" not in text and "https://" not in text, name  # no CDN, no tiles
        assert "innerHTML" not in text, name
    assert httpx.get(base + "/ui/nothing.js").status_code == 404


@pytest.mark.slow
def test_live_map_follows_a_new_owntracks_fix(server: dict[str, Any], browser: Browser) -> None:
    base = server["url"]
    page, watch = _login(browser, base)
    assert page.text_content("#who") == "signed in as alice"
    assert page.input_value("#ws") == "alice"
    assert _marker(page) == pytest.approx(HOME)  # the last fix of the day was at home
    row = page.locator("#live-table tr[data-entity='alice/phone']")
    assert row.locator("td").nth(1).text_content() != ""
    assert "days" in (row.locator("td").nth(2).text_content() or "")  # its age
    assert page.locator(".leaflet-control-attribution").text_content() == "no map tiles offline"

    seen = page.evaluate("window.hb.positionsReceived")
    msg = {"_type": "location", "tst": T0 + 24000, "lat": ELSEWHERE[0], "lon": ELSEWHERE[1], "acc": 5}
    r = httpx.post(f"{base}/ingest/owntracks", json=msg, auth=("alice", server["ingest"]), timeout=30)
    assert r.status_code == 200, r.text
    page.wait_for_function(f"() => window.hb.positionsReceived > {seen}")
    page.wait_for_function(f"() => window.hb.markers['alice/phone'].getLatLng().lat > {ELSEWHERE[0] - 0.001}")
    assert _marker(page) == pytest.approx(ELSEWHERE)
    # it entered the geofence there: the event is listed (as text), the geofence is listed and drawn
    page.wait_for_function("() => document.querySelectorAll('#events li').length >= 1")
    assert (page.text_content("#events li") or "").endswith("alice/phone entered Lake <i>north</i>")
    assert page.text_content("#geofences tbody td") == "Lake <i>north</i>"
    assert page.locator("#events i, #geofences i").count() == 0
    assert page.evaluate("window.hb.layers.geofences.getLayers().length") == 1
    # the marker's element on the map moved too, and the live list shows the new position
    path = page.locator("path.hb-live[data-entity='alice/phone']")
    assert float(path.get_attribute("data-lat") or "nan") == pytest.approx(ELSEWHERE[0])
    assert float(row.get_attribute("data-lon") or "nan") == pytest.approx(ELSEWHERE[1])
    watch.check()
    page.context.close()


@pytest.mark.slow
def test_ask_draws_the_evidence_and_the_day_plays_back(server: dict[str, Any], browser: Browser) -> None:
    base = server["url"]
    page, watch = _login(browser, base)
    page.fill("#ask-question", "where was alice/phone on 2025-02-19?")
    page.click("#ask-form button[type=submit]")
    page.wait_for_function("() => window.hb.asked >= 1")
    text = page.text_content("#answer-text") or ""
    assert text.startswith("alice/phone made 3 stays"), text
    assert page.text_content("#answer-confidence") not in ("", "not given")
    assert "fixes" in (page.text_content("#answer-coverage") or "")
    assert page.evaluate("window.hb.evidenceCount()") == 3
    assert page.locator("path.hb-evidence").count() == 3  # drawn on the map, not just counted
    centres = page.evaluate(
        "window.hb.layers.evidence.getLayers().map(l => [l.getLatLng().lat, l.getLatLng().lng])"
    )
    assert sorted(map(tuple, centres)) == pytest.approx(sorted([HOME, WORK, HOME]), abs=1e-4)

    # the entity's day: a timeline of stays and trips, places, and playback along the day's fixes
    page.click("#live-table tr[data-entity='alice/phone'] button")
    page.wait_for_selector("#entity-body", state="visible")
    assert page.input_value("#day") == "2025-02-19"
    page.wait_for_function("() => document.querySelectorAll('#timeline li.stay').length >= 3")
    kinds = page.eval_on_selector_all("#timeline li", "els => els.map(e => e.className)")
    assert kinds == ["stay", "trip", "stay", "trip", "stay"]
    assert page.locator("path.hb-trip").count() == 2
    page.wait_for_function("() => document.querySelectorAll('#places tbody tr button').length >= 2")
    assert page.locator("path.hb-place").count() == 2
    day = httpx.get(
        f"{base}/api/v1/workspaces/alice/fixes",
        params={"entity": "alice/phone", "from": "2025-02-18T23:00:00Z", "to": "2025-02-19T23:00:00Z"},
        headers={"Authorization": f"Bearer {server['api']}"},
    ).json()["fixes"]
    assert len(day) >= len(_day()) and page.evaluate("window.hb.dayFixes.length") == len(day)
    page.fill("#play", "0")
    first = page.evaluate("window.hb.playMarker.getLatLng().lat")
    page.locator("#play").evaluate(
        "(el, i) => { el.value = String(i); el.dispatchEvent(new Event('input')); }", 45
    )
    mid = page.evaluate("[window.hb.playMarker.getLatLng().lat, window.hb.playMarker.getLatLng().lng]")
    assert first == pytest.approx(HOME[0]) and tuple(mid) == pytest.approx(WORK)
    assert "(46/" in (page.text_content("#play-time") or "")
    watch.check()
    page.context.close()


@pytest.mark.slow
def test_owner_makes_opens_and_revokes_a_share_link(server: dict[str, Any], browser: Browser) -> None:
    base = server["url"]
    page, watch = _login(browser, base)
    page.click("#share-panel summary")
    page.check("#share-live")
    page.fill("#share-label", "<b>family</b>")
    page.click("#share-form button[type=submit]")
    link = page.wait_for_selector("#share-new a")
    url = link.get_attribute("href") or ""
    assert url.startswith(base + "/share/hbs_") or url.startswith(base + "/share/"), url
    page.wait_for_selector("#shares tbody tr[data-share]")  # the list refreshes after the link shows
    row = page.locator("#shares tbody tr[data-share]")
    assert row.count() == 1
    assert "<b>family</b>" in (row.locator("td").first.text_content() or "")  # shown as text, not markup
    assert page.locator("#shares b").count() == 0

    share = page.context.new_page()
    share_watch = Watch(share, base)
    share.goto(url)
    share.wait_for_function("() => window.hb && window.hb.loaded >= 1")
    assert share.text_content("#s-entity") == "alice/phone"
    assert share.text_content("#s-shows") == "the latest position only"
    lat = share.evaluate("window.hb.marker.getLatLng().lat")
    assert lat == pytest.approx(page.evaluate("window.hb.latest['alice/phone'].lat"))
    share_watch.check()

    page.click("#shares tbody tr[data-share] button")
    page.wait_for_function(
        "() => document.querySelector('#shares tbody tr[data-share] td:last-child').textContent === 'revoked'"
    )
    gone = httpx.get(f"{base}/api/v1/shared", params={"share": url.rsplit("/", 1)[1]})
    assert gone.status_code == 401
    watch.check()
    page.context.close()


@pytest.mark.slow
def test_analyst_makes_a_geofence_on_the_map_and_removes_it(server: dict[str, Any], browser: Browser) -> None:
    base = server["url"]
    page, watch = _login(browser, base)
    page.click("#geofence-panel summary")
    page.wait_for_selector("#geofence-form", state="visible")
    before = page.evaluate("window.hb.layers.geofences.getLayers().length")
    # a click on the map puts the centre there
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("() => document.getElementById('geofence-lat').value !== ''")
    lat, lon = float(page.input_value("#geofence-lat")), float(page.input_value("#geofence-lon"))
    centre = page.evaluate("[window.hb.map.getCenter().lat, window.hb.map.getCenter().lng]")
    assert (lat, lon) == pytest.approx(tuple(centre), abs=1e-3)
    page.fill("#geofence-name", "School <b>gate</b>")
    page.fill("#geofence-radius", "150")
    page.click("#geofence-form button[type=submit]")
    page.wait_for_function(f"() => window.hb.layers.geofences.getLayers().length === {before + 1}")
    assert page.locator("path.hb-geofence").count() == before + 1  # drawn, not only counted
    circle = page.evaluate(
        """(() => { const c = window.hb.layers.geofences.getLayers().find(l => l.getRadius() === 150);
                    return [c.getLatLng().lat, c.getLatLng().lng, c.getRadius()]; })()"""
    )
    assert circle == pytest.approx([lat, lon, 150], abs=1e-6)
    fences = httpx.get(f"{base}/api/v1/workspaces/alice/geofences",
                       headers={"Authorization": f"Bearer {server['api']}"}).json()["geofences"]  # fmt: skip
    made = [g for g in fences if g["name"] == "School <b>gate</b>"]
    assert len(made) == 1 and made[0]["radius_m"] == 150
    row = page.locator(f"#geofences tr[data-geofence='{made[0]['id']}']")
    assert (
        row.locator("td").first.text_content() == "School <b>gate</b>"
        and page.locator("#geofences b").count() == 0
    )
    row.locator("button").click()
    page.wait_for_function(f"() => window.hb.layers.geofences.getLayers().length === {before}")
    assert page.locator(f"#geofences tr[data-geofence='{made[0]['id']}']").count() == 0
    watch.check()
    page.context.close()


@pytest.mark.slow
def test_owner_adds_changes_and_removes_a_member(server: dict[str, Any], browser: Browser) -> None:
    base, acc = server["url"], server["acc"]
    page, watch = _login(browser, base)
    page.click("#member-panel summary")
    page.wait_for_selector("#members tr[data-member='alice']")
    assert page.get_attribute("#members tr[data-member='alice']", "data-role") == "owner"
    page.fill("#member-user", "erin")
    page.select_option("#member-role", "viewer")
    page.click("#member-form button[type=submit]")
    page.wait_for_selector("#members tr[data-member='erin'][data-role='viewer']")
    assert acc.workspaces_of("erin") == {"erin": "owner", "alice": "viewer"}
    # change the role in the list
    page.select_option("#members tr[data-member='erin'] select", "analyst")
    page.wait_for_selector("#members tr[data-member='erin'][data-role='analyst']")
    assert acc.workspaces_of("erin")["alice"] == "analyst"
    # an unknown user is refused with the server's message, and the list is unchanged
    page.fill("#member-user", "nobody-here")
    page.click("#member-form button[type=submit]")
    page.wait_for_function("() => document.getElementById('status').textContent.includes('nobody-here')")
    watch.errors = [e for e in watch.errors if "status of 400" not in e]  # the refusal, logged by the browser
    assert page.locator("#members tr[data-member]").count() == 2
    page.click("#members tr[data-member='erin'] button")
    page.wait_for_function("() => !document.querySelector(\"#members tr[data-member='erin']\")")
    assert "alice" not in acc.workspaces_of("erin")
    watch.check()
    page.context.close()


@pytest.mark.slow
def test_analyst_sees_the_entity_profile_with_its_places(server: dict[str, Any], browser: Browser) -> None:
    base, db = server["url"], server["db"]
    page, watch = _login(browser, base)
    page.click("#live-table tr[data-entity='alice/phone'] button")
    page.wait_for_selector("#profile-panel", state="visible")
    assert page.text_content("#profile-name") == "alice/phone"
    # its places, under the day's timeline
    page.wait_for_function("() => document.querySelectorAll('#places tbody tr button').length >= 2")
    page.click("#profile-panel summary")
    page.fill("#profile-purpose", "ui test")
    page.click("#profile-form button[type=submit]")
    page.wait_for_function("() => window.hb.profiled >= 1")
    assert "fixes from" in (page.text_content("#profile-summary") or "")
    cats = page.eval_on_selector_all("#profile-places tbody tr", "els => els.map(e => e.dataset.category)")
    assert len(cats) == 2 and set(cats) <= {"home", "work", "regular", "other"}
    assert page.locator("path.hb-profile-place").count() == 2
    centres = page.evaluate(
        "window.hb.layers.profile.getLayers().map(l => [l.getLatLng().lat, l.getLatLng().lng])"
    )
    got = [x for c in sorted(map(tuple, centres)) for x in c]
    assert got == pytest.approx([x for c in sorted([HOME, WORK]) for x in c], abs=1e-3)
    assert page.locator("#profile-stats tbody tr").count() >= 3
    audit = [e for e in db.audit_log().to_pylist() if e["action"] == "profile"]
    assert audit and audit[-1]["actor"] == "alice" and audit[-1]["purpose"] == "ui test"
    watch.check()
    page.context.close()
