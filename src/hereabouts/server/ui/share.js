/* hereabouts web UI: the read-only page of a share link (/share/TOKEN). It calls only /api/v1/shared. */
"use strict";

(() => {
  const { api, el, when, coords, duration, status } = HB;
  const $ = (id) => document.getElementById(id);
  const token = decodeURIComponent(window.location.pathname.replace(/^\/share\//, "").replace(/\/$/, ""));
  const hb = { map: null, marker: null, track: null, loaded: 0 };
  window.hb = hb;

  async function load() {
    let data;
    try {
      data = await api("GET", `/api/v1/shared?share=${encodeURIComponent(token)}`);
    } catch (err) {
      status(err.status === 401 ? "This link is not valid: it is unknown, revoked or expired." : err.message, true);
      return false;
    }
    $("s-entity").textContent = data.entity;
    $("share-title").textContent = `shared location of ${data.entity}`;
    $("s-shows").textContent = data.live_only ? "the latest position only" : `${when(data.from)} – ${when(data.to)}`;
    $("s-expires").textContent = when(data.expires);
    const p = (data.latest || [])[0];
    if (p) {
      $("s-latest").textContent = `${when(p.t)} (${duration(p.age_s)} ago) at ${coords(p.lat, p.lon)}`;
      if (!hb.marker) {
        hb.marker = L.circleMarker([p.lat, p.lon], { radius: 8, color: "#fff", weight: 2, fillColor: "#1f6feb", fillOpacity: 0.95 })
          .bindTooltip(el("span", data.entity), { permanent: true, direction: "right", offset: [8, 0] }).addTo(hb.map);
      } else {
        hb.marker.setLatLng([p.lat, p.lon]);
      }
    } else {
      $("s-latest").textContent = "no position in what is shared";
    }
    const fixes = (data.fixes || []).filter((f) => f.lat !== null && f.lon !== null);
    if (fixes.length) {
      const pts = fixes.map((f) => [f.lat, f.lon]);
      if (hb.track) hb.track.setLatLngs(pts);
      else hb.track = L.polyline(pts, { color: "#c2410c", weight: 3 }).addTo(hb.map);
    }
    if (hb.loaded === 0) {
      const b = hb.track ? hb.track.getBounds() : hb.marker ? L.latLngBounds([hb.marker.getLatLng()]) : null;
      if (b && b.isValid()) hb.map.fitBounds(b.pad(0.3), { maxZoom: 15 });
    }
    hb.loaded += 1;
    status("");
    return true;
  }

  document.addEventListener("DOMContentLoaded", async () => {
    hb.map = HB.makeMap("map");
    if (await load()) setInterval(load, 30000);
  });
})();
