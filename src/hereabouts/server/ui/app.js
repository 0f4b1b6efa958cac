/* hereabouts web UI: the app at "/". It calls only the server's JSON API (/api/v1/...).
   State and map layers are exposed as window.hb (for scripting and the browser tests). */
"use strict";

(() => {
  const { api, el, row, clear, when, clock, duration, coords, localDay, dayRange, status } = HB;
  const $ = (id) => document.getElementById(id);
  const RANK = { viewer: 1, analyst: 2, owner: 3 };

  const hb = {
    map: null,
    markers: {},        // entity -> Leaflet circle marker of its latest position
    latest: {},         // entity -> {t, lat, lon, accuracy_m}
    layers: {},
    user: null,
    roles: {},
    ws: null,
    entity: null,
    entities: [],
    dayFixes: [],
    stream: null,
    streamOpen: false,
    positionsReceived: 0,
    asked: 0,           // answers shown so far (their evidence drawn)
    profiled: 0,        // profiles shown so far
    membersLoaded: 0,   // times the member list was (re)loaded
    evidenceCount: () => (hb.layers.evidence ? hb.layers.evidence.getLayers().length : 0),
  };
  window.hb = hb;

  const COLORS = ["#1f6feb", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207", "#be185d"];
  const colorOf = (name) => {
    let h = 0;
    for (const ch of String(name)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
    return COLORS[h % COLORS.length];
  };

  function fail(err) {
    if (err && err.status === 401 && hb.user) {
      showLogin("Your session has ended; sign in again.");
      return;
    }
    status(err && err.message ? err.message : String(err), true);
  }

  // ------------------------------------------------------------------ session
  async function start() {
    $("login-form").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", onLogout);
    $("ws").addEventListener("change", () => selectWorkspace($("ws").value).catch(fail));
    $("ask-form").addEventListener("submit", onAsk);
    $("answer-clear").addEventListener("click", () => { hb.layers.evidence.clearLayers(); $("answer").hidden = true; });
    $("day").addEventListener("change", () => loadDay().catch(fail));
    $("play").addEventListener("input", () => setPlayback(Number($("play").value)));
    $("play-go").addEventListener("click", togglePlay);
    $("share-form").addEventListener("submit", onShare);
    $("geofence-form").addEventListener("submit", onGeofence);
    $("member-form").addEventListener("submit", onMember);
    $("profile-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadProfile().catch(fail); });
    $("share-live").addEventListener("change", () => {
      $("share-from").disabled = $("share-to").disabled = $("share-live").checked;
    });
    setInterval(renderAges, 5000);
    try {
      const me = await api("GET", "/api/v1/me");
      await showApp(me);
    } catch (err) {
      if (err.status === 401) showLogin(""); else fail(err);
    }
  }

  function showLogin(message) {
    closeStream();
    hb.user = null;
    $("app-view").hidden = true;
    $("login-view").hidden = false;
    $("logout").hidden = true;
    $("ws-label").hidden = true;
    $("who").textContent = "";
    $("login-error").textContent = message || "";
    status("");
    $("login-user").focus();
  }

  async function onLogin(ev) {
    ev.preventDefault();
    $("login-error").textContent = "";
    try {
      await api("POST", "/api/v1/login", { user: $("login-user").value, password: $("login-password").value });
      $("login-password").value = "";
      await showApp(await api("GET", "/api/v1/me"));
    } catch (err) {
      $("login-error").textContent = err.message;
    }
  }

  async function onLogout() {
    try { await api("POST", "/api/v1/logout"); } catch (_e) { /* already signed out */ }
    showLogin("Signed out.");
  }

  async function showApp(me) {
    hb.user = me.user;
    hb.roles = me.workspaces || {};
    $("login-view").hidden = true;
    $("app-view").hidden = false;
    $("logout").hidden = false;
    $("who").textContent = `signed in as ${me.user}`;
    if (!hb.map) setupMap();
    hb.map.invalidateSize();
    const select = $("ws");
    clear(select);
    const names = Object.keys(hb.roles).sort();
    for (const ws of names) select.appendChild(el("option", `${ws} (${hb.roles[ws]})`, { value: ws }));
    $("ws-label").hidden = names.length === 0;
    if (!names.length) { status("You are not a member of any workspace yet."); return; }
    const remembered = sessionStorage.getItem("hb.ws");
    const ws = names.includes(remembered) ? remembered : names[0];
    select.value = ws;
    await selectWorkspace(ws);
  }

  function setupMap() {
    hb.map = HB.makeMap("map");
    for (const name of ["geofences", "places", "profile", "day", "live", "evidence", "playback"]) {
      hb.layers[name] = L.featureGroup().addTo(hb.map);
    }
    // a click on the map sets the centre of the geofence being made
    hb.map.on("click", (e) => {
      if ($("geofence-form").hidden || !$("geofence-panel").open) return;
      $("geofence-lat").value = e.latlng.lat.toFixed(6);
      $("geofence-lon").value = e.latlng.lng.toFixed(6);
    });
  }

  // ------------------------------------------------------------------ workspace
  const wsPath = (rest) => `/api/v1/workspaces/${encodeURIComponent(hb.ws)}/${rest}`;
  const can = (role) => (RANK[hb.roles[hb.ws]] || 0) >= RANK[role];

  async function selectWorkspace(ws) {
    closeStream();
    hb.ws = ws;
    sessionStorage.setItem("hb.ws", ws);
    hb.entity = null;
    hb.markers = {};
    hb.latest = {};
    for (const layer of Object.values(hb.layers)) layer.clearLayers();
    clear($("live-table").tBodies[0]);
    clear($("events"));
    $("entity-body").hidden = true;
    $("entity-name").textContent = "pick one in the live list";
    $("answer").hidden = true;
    $("ask-panel").hidden = !can("analyst");
    $("share-panel").hidden = !can("owner");
    $("member-panel").hidden = !can("owner");
    $("geofence-form").hidden = !can("analyst");
    $("profile-panel").hidden = true;
    $("profile-body").hidden = true;
    status(`loading ${ws}…`);

    const [ents, latest] = await Promise.all([api("GET", wsPath("entities")), api("GET", wsPath("latest"))]);
    const names = ents.entities.map((e) => e.entity).sort();
    hb.entities = names;
    for (const id of ["ask-entity", "share-entity"]) {
      const s = $(id);
      clear(s);
      if (id === "ask-entity") s.appendChild(el("option", "(named in the question)", { value: "" }));
      for (const n of names) s.appendChild(el("option", n, { value: n }));
    }
    for (const n of names) liveRow(n);
    for (const p of latest.latest) updatePosition(p);
    const bounds = hb.layers.live.getBounds();
    if (bounds.isValid()) hb.map.fitBounds(bounds.pad(0.3), { maxZoom: 15 });
    status(names.length ? "" : "No entities in this workspace yet: add a device (hereabouts device add).");
    await Promise.all([
      loadGeofences(),
      can("owner") ? loadShares() : Promise.resolve(),
      can("owner") ? loadMembers() : Promise.resolve(),
    ]);
    openStream();
  }

  // ------------------------------------------------------------------ live positions
  function liveRow(entity) {
    const body = $("live-table").tBodies[0];
    let tr = body.querySelector(`tr[data-entity="${CSS.escape(entity)}"]`);
    if (!tr) {
      const name = el("button", entity, { type: "button", class: "link" });
      name.addEventListener("click", () => selectEntity(entity).catch(fail));
      tr = row([name, "", ""]);
      tr.setAttribute("data-entity", entity);
      body.appendChild(tr);
    }
    return tr;
  }

  function updatePosition(p) {
    const entity = p.entity || p.device;
    if (!entity || p.lat === null || p.lon === null) return;
    const prev = hb.latest[entity];
    if (prev && new Date(p.t) < new Date(prev.t)) return;
    hb.latest[entity] = { t: p.t, lat: p.lat, lon: p.lon, accuracy_m: p.accuracy_m, device: p.device };
    let m = hb.markers[entity];
    if (!m) {
      m = L.circleMarker([p.lat, p.lon], {
        radius: 8, color: "#fff", weight: 2, fillColor: colorOf(entity), fillOpacity: 0.95, className: "hb-live",
      });
      m.bindTooltip(el("span", entity), { permanent: true, direction: "right", offset: [8, 0], className: "hb-label" });
      m.on("click", () => selectEntity(entity).catch(fail));
      m.addTo(hb.layers.live);
      hb.markers[entity] = m;
    } else {
      m.setLatLng([p.lat, p.lon]);
    }
    const node = m.getElement();
    if (node) {
      node.setAttribute("data-entity", entity);
      node.setAttribute("data-lat", String(p.lat));
      node.setAttribute("data-lon", String(p.lon));
    }
    const tr = liveRow(entity);
    tr.setAttribute("data-lat", String(p.lat));
    tr.setAttribute("data-lon", String(p.lon));
    tr.cells[1].textContent = when(p.t);
    tr.cells[1].title = coords(p.lat, p.lon);
    renderAges();
  }

  function renderAges() {
    const now = Date.now();
    for (const [entity, p] of Object.entries(hb.latest)) {
      const tr = liveRow(entity);
      const age = (now - new Date(p.t).getTime()) / 1000;
      tr.cells[2].textContent = duration(age);
      tr.classList.toggle("stale", age > 3600);
    }
  }

  function openStream() {
    const es = new EventSource(wsPath("stream"));
    hb.stream = es;
    es.addEventListener("open", () => { hb.streamOpen = true; });
    es.addEventListener("position", (e) => {
      hb.positionsReceived += 1;
      updatePosition(JSON.parse(e.data));
    });
    es.addEventListener("geofence", (e) => {
      const g = JSON.parse(e.data);
      const list = $("events");
      list.insertBefore(el("li", `${when(g.t)} ${g.device} ${g.event === "enter" ? "entered" : "left"} ${g.name}`),
        list.firstChild);
      while (list.children.length > 20) list.removeChild(list.lastChild);
    });
    es.addEventListener("error", () => {
      hb.streamOpen = false;
      if (es.readyState === EventSource.CLOSED) status("The live stream closed; reload to reconnect.", true);
    });
  }

  function closeStream() {
    if (hb.stream) hb.stream.close();
    hb.stream = null;
    hb.streamOpen = false;
  }

  // ------------------------------------------------------------------ an entity's day
  async function selectEntity(entity, day) {
    hb.entity = entity;
    $("entity-name").textContent = entity;
    $("entity-body").hidden = false;
    $("entity-panel").open = true;
    $("ask-entity").value = entity;
    $("profile-name").textContent = entity;
    $("profile-panel").hidden = !can("analyst");
    $("profile-body").hidden = true;
    hb.layers.profile.clearLayers();
    const last = hb.latest[entity];
    $("day").value = day || localDay(last ? last.t : null);
    await Promise.all([loadDay(), loadPlaces()]);
  }

  /** The local day a question is about (its one period of at most a day and a half, or its instant). */
  function dayOfQuery(q) {
    const iv = q && q.period && q.period.intervals;
    if (iv && iv.length === 1) {
      const t0 = new Date(iv[0][0]).getTime(), t1 = new Date(iv[0][1]).getTime();
      if (t1 - t0 <= 36 * 3600e3) return localDay(new Date(t0 + 1000).toISOString());
    }
    if (q && q.at && q.at.at) return localDay(q.at.at);
    return null;
  }

  async function loadDay() {
    const entity = hb.entity;
    if (hb.playTimer) togglePlay();
    if (!entity || !$("day").value) return;
    const [from, to] = dayRange($("day").value);
    const q = `?entity=${encodeURIComponent(entity)}&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
    const [stays, trips, fixes] = await Promise.all([
      api("GET", wsPath("stays") + q), api("GET", wsPath("trips") + q), api("GET", wsPath("fixes") + q),
    ]);
    if (entity !== hb.entity) return;
    hb.dayFixes = fixes.fixes.filter((f) => f.lat !== null && f.lon !== null);
    const layer = hb.layers.day;
    layer.clearLayers();
    const items = [];
    // a stay that began or ends on another day (stays overlapping the day are listed) shows its date
    const inDay = (t) => { const x = new Date(t).getTime(); return x >= new Date(from).getTime() && x < new Date(to).getTime(); };
    const at = (t) => (inDay(t) ? clock(t) : when(t));
    for (const s of stays.stays) {
      const c = L.circle([s.lat, s.lon], {
        radius: Math.max(s.radius_m || 0, 40), color: "#1f6feb", weight: 2, fillOpacity: 0.25, className: "hb-stay",
      }).bindTooltip(el("span", `stay ${at(s.start)}–${at(s.end)}`));
      c.addTo(layer);
      items.push({ start: s.start, layer: c, text: `${at(s.start)}–${at(s.end)} stay at ${coords(s.lat, s.lon)}`,
        extra: duration((new Date(s.end) - new Date(s.start)) / 1000), kind: "stay" });
    }
    for (const t of trips.trips) {
      const t0 = new Date(t.start), t1 = new Date(t.end);
      let pts = hb.dayFixes.filter((f) => { const x = new Date(f.t); return x >= t0 && x <= t1; })
        .map((f) => [f.lat, f.lon]);
      if (pts.length < 2 && Array.isArray(t.path)) pts = t.path.flat().map((p) => [p.lat, p.lon]);
      if (pts.length < 2) pts = [[t.from_lat, t.from_lon], [t.to_lat, t.to_lon]];
      const line = L.polyline(pts, { color: "#c2410c", weight: 3, opacity: 0.8, className: "hb-trip" })
        .bindTooltip(el("span", `trip ${clock(t.start)}–${clock(t.end)}`));
      line.addTo(layer);
      const km = t.distance_m ? `${(t.distance_m / 1000).toFixed(1)} km` : "";
      items.push({ start: t.start, layer: line, kind: "trip",
        text: `${clock(t.start)}–${clock(t.end)} trip ${km} ${t.mode || ""}`.trim(),
        extra: duration((t1 - t0) / 1000) });
    }
    items.sort((a, b) => new Date(a.start) - new Date(b.start));
    const list = $("timeline");
    clear(list);
    for (const it of items) {
      const li = el("li", null, { class: it.kind });
      const b = el("button", it.text, { type: "button", class: "link" });
      b.addEventListener("click", () => fitTo(it.layer));
      li.appendChild(b);
      li.appendChild(el("span", ` ${it.extra}`, { class: "muted" }));
      list.appendChild(li);
    }
    if (!items.length) list.appendChild(el("li", hb.dayFixes.length ? "no stays or trips found this day" : "no data this day", { class: "muted" }));
    const slider = $("play");
    slider.max = String(Math.max(0, hb.dayFixes.length - 1));
    slider.value = "0";
    slider.disabled = hb.dayFixes.length === 0;
    hb.layers.playback.clearLayers();
    hb.playMarker = null;
    if (hb.dayFixes.length) setPlayback(0);
    else $("play-time").textContent = "";
    const b = layer.getBounds();
    if (b.isValid()) hb.map.fitBounds(b.pad(0.2), { maxZoom: 16 });
  }

  function fitTo(layer) {
    const b = layer.getBounds ? layer.getBounds() : L.latLngBounds([layer.getLatLng()]);
    if (b.isValid()) hb.map.fitBounds(b.pad(0.5), { maxZoom: 17 });
  }

  function setPlayback(i) {
    const f = hb.dayFixes[i];
    if (!f) return;
    if (!hb.playMarker) {
      hb.playMarker = L.circleMarker([f.lat, f.lon], {
        radius: 7, color: "#111", weight: 2, fillColor: "#facc15", fillOpacity: 1, className: "hb-playback",
      }).addTo(hb.layers.playback);
    } else {
      hb.playMarker.setLatLng([f.lat, f.lon]);
    }
    $("play").value = String(i);
    $("play-time").textContent = `${when(f.t)} (${i + 1}/${hb.dayFixes.length})`;
  }

  function togglePlay() {
    if (hb.playTimer) {
      clearInterval(hb.playTimer);
      hb.playTimer = null;
      $("play-go").textContent = "Play";
      return;
    }
    const n = hb.dayFixes.length;
    if (!n) return;
    const step = Math.max(1, Math.round(n / 200));
    $("play-go").textContent = "Pause";
    hb.playTimer = setInterval(() => {
      const next = Number($("play").value) + step;
      if (next >= n) { setPlayback(n - 1); togglePlay(); return; }
      setPlayback(next);
    }, 50);
  }

  async function loadPlaces() {
    const entity = hb.entity;
    const data = await api("GET", wsPath("places") + `?entity=${encodeURIComponent(entity)}`);
    if (entity !== hb.entity) return;
    hb.layers.places.clearLayers();
    const body = $("places").tBodies[0];
    clear(body);
    const places = (data.places || []).slice().sort((a, b) => (b.dwell_s || 0) - (a.dwell_s || 0));
    for (const p of places) {
      const name = p.label || coords(p.lat, p.lon);
      const c = L.circle([p.lat, p.lon], {
        radius: Math.max(p.extent_m || 0, 60), color: "#15803d", weight: 1, dashArray: "4 4", fillOpacity: 0.08,
        className: "hb-place",
      }).bindTooltip(el("span", `${p.label || "place"}${p.town ? ` near ${p.town}` : ""}: ${p.n_visits} visits`));
      c.addTo(hb.layers.places);
      const b = el("button", name, { type: "button", class: "link", title: p.town ? `near ${p.town}` : "" });
      b.addEventListener("click", () => fitTo(c));
      body.appendChild(row([b, p.n_visits, duration(p.dwell_s)]));
    }
    if (!places.length) body.appendChild(row(["no places yet", "", ""]));
  }

  // ------------------------------------------------------------------ ask
  async function onAsk(ev) {
    ev.preventDefault();
    const body = { question: $("ask-question").value };
    if ($("ask-entity").value) body.entity = $("ask-entity").value;
    if ($("ask-purpose").value) body.purpose = $("ask-purpose").value;
    status("asking…");
    try {
      const a = await api("POST", wsPath("ask"), body);
      await showAnswer(a);
      status("");
    } catch (err) {
      fail(err);
    }
  }

  async function showAnswer(a) {
    $("answer").hidden = false;
    $("answer-text").textContent = a.answer || a.text || "";
    $("answer-confidence").textContent =
      a.confidence === null || a.confidence === undefined ? "not given" : `${Math.round(a.confidence * 100)} %`;
    const c = a.coverage || {};
    $("answer-coverage").textContent = c.hours
      ? `${Number(c.hours_with_data).toFixed(1)} of ${Number(c.hours).toFixed(1)} h with data, ${c.n_fixes} fixes, ` +
        `${(c.gaps || []).length} gap${(c.gaps || []).length === 1 ? "" : "s"} (${when(c.start)} – ${when(c.end)})`
      : "no period";
    $("answer-query").textContent = a.said || (a.query && a.query.kind) || "";
    // a question about one entity's day also opens that day (timeline, places, playback) under the evidence
    const day = dayOfQuery(a.query);
    if (a.query && hb.entities.includes(a.query.entity) && day) {
      try { await selectEntity(a.query.entity, day); } catch (err) { fail(err); }
    }
    const n = await drawEvidence(a.evidence || []);
    const notes = (a.notes || []).join(" ");
    $("answer-evidence").textContent = `${n} item${n === 1 ? "" : "s"} drawn on the map` + (notes ? `; ${notes}` : "");
    $("answer").setAttribute("data-evidence", String(n));
    hb.asked += 1;
  }

  async function drawEvidence(items) {
    const layer = hb.layers.evidence;
    layer.clearLayers();
    const style = { color: "#b91c1c", weight: 2, fillColor: "#ef4444", fillOpacity: 0.3 };
    for (const e of items) {
      const label = [e.kind || "evidence", e.entity || e.device || "", e.start ? `${when(e.start)}–${clock(e.end)}` : when(e.t)]
        .filter(Boolean).join(" ");
      let shape = null;
      if (e.kind === "trip" && e.entity && e.start && e.end) {
        try {
          const q = `?entity=${encodeURIComponent(e.entity)}&from=${encodeURIComponent(e.start)}&to=${encodeURIComponent(e.end)}`;
          const fx = (await api("GET", wsPath("fixes") + q)).fixes.filter((f) => f.lat !== null);
          if (fx.length) shape = L.polyline(fx.map((f) => [f.lat, f.lon]), { ...style, weight: 4, className: "hb-evidence" });
        } catch (_err) { shape = null; }
      } else if (isFinite(e.lat) && isFinite(e.lon) && e.lat !== null && e.lon !== null) {
        shape = e.kind === "stay" || e.kind === "place"
          ? L.circle([e.lat, e.lon], { ...style, radius: Math.max(e.radius_m || 0, 50), className: "hb-evidence" })
          : L.circleMarker([e.lat, e.lon], { ...style, radius: 5, fillOpacity: 0.9, className: "hb-evidence" });
      } else if (isFinite(e.from_lat) && isFinite(e.to_lat) && e.from_lat !== null && e.to_lat !== null) {
        shape = L.polyline([[e.from_lat, e.from_lon], [e.to_lat, e.to_lon]], { ...style, className: "hb-evidence" });
      }
      if (shape) shape.bindTooltip(el("span", label)).addTo(layer);
    }
    const b = layer.getBounds();
    if (b.isValid()) hb.map.fitBounds(b.pad(0.3), { maxZoom: 16 });
    return layer.getLayers().length;
  }

  // ------------------------------------------------------------------ shares (owners)
  async function loadShares() {
    const data = await api("GET", wsPath("shares"));
    const body = $("shares").tBodies[0];
    clear(body);
    const now = Date.now();
    for (const s of data.shares) {
      const shows = s.live_only ? "live position" : `${when(s.period_start)} – ${when(s.period_end)}`;
      let state;
      if (s.revoked) state = el("span", "revoked", { class: "muted" });
      else if (s.expires && new Date(s.expires).getTime() < now) state = el("span", "expired", { class: "muted" });
      else {
        state = el("button", "Revoke", { type: "button" });
        state.addEventListener("click", () => revoke(s.id).catch(fail));
      }
      const tr = row([s.entity + (s.label ? ` (${s.label})` : ""), shows, when(s.expires), state]);
      tr.setAttribute("data-share", s.id);
      body.appendChild(tr);
    }
    if (!data.shares.length) body.appendChild(row(["no share links", "", "", ""]));
    if (!$("share-expires").value) {
      const d = new Date(Date.now() + 86400e3);
      d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
      $("share-expires").value = d.toISOString().slice(0, 16);
    }
  }

  async function onShare(ev) {
    ev.preventDefault();
    const iso = (v) => (v ? new Date(v).toISOString() : undefined);
    const body = {
      entity: $("share-entity").value,
      live_only: $("share-live").checked,
      expires: iso($("share-expires").value),
    };
    if (!body.live_only) { body.from = iso($("share-from").value); body.to = iso($("share-to").value); }
    if ($("share-label").value) body.label = $("share-label").value;
    try {
      const made = await api("POST", wsPath("shares"), body);
      const box = $("share-new");
      clear(box);
      box.hidden = false;
      box.appendChild(el("span", "New link (copy it now; it is shown once): "));
      const url = new URL(made.url, window.location.origin);
      if (url.origin === window.location.origin && url.pathname.startsWith("/share/")) {
        box.appendChild(el("a", url.href, { href: url.href, target: "_blank", rel: "noopener noreferrer" }));
      }
      await loadShares();
    } catch (err) {
      fail(err);
    }
  }

  async function revoke(id) {
    await api("DELETE", wsPath(`tokens/${encodeURIComponent(id)}`));
    await loadShares();
  }

  // ------------------------------------------------------------------ geofences
  async function loadGeofences() {
    const data = await api("GET", wsPath("geofences"));
    const body = $("geofences").tBodies[0];
    clear(body);
    hb.layers.geofences.clearLayers();
    for (const g of data.geofences) {
      L.circle([g.lat, g.lon], {
        radius: g.radius_m, color: "#7e22ce", weight: 1, dashArray: "2 6", fillOpacity: 0.05, className: "hb-geofence",
      }).bindTooltip(el("span", `geofence ${g.name}`)).addTo(hb.layers.geofences);
      let remove = "";
      if (can("analyst")) {
        remove = el("button", "Remove", { type: "button" });
        remove.addEventListener("click", () => removeGeofence(g.id).catch(fail));
      }
      const tr = row([g.name, coords(g.lat, g.lon), `${Math.round(g.radius_m)} m`, remove]);
      tr.setAttribute("data-geofence", g.id);
      if (g.webhook) tr.cells[0].title = `webhook: ${g.webhook}`;
      body.appendChild(tr);
    }
    if (!data.geofences.length) body.appendChild(row(["no geofences", "", "", ""]));
  }

  async function onGeofence(ev) {
    ev.preventDefault();
    const body = {
      name: $("geofence-name").value,
      lat: Number($("geofence-lat").value),
      lon: Number($("geofence-lon").value),
      radius_m: Number($("geofence-radius").value),
    };
    if ($("geofence-webhook").value) body.webhook = $("geofence-webhook").value;
    try {
      await api("POST", wsPath("geofences"), body);
      $("geofence-name").value = "";
      await loadGeofences();
      status(`geofence ${body.name} added`);
    } catch (err) {
      fail(err);
    }
  }

  async function removeGeofence(id) {
    await api("DELETE", wsPath(`geofences/${encodeURIComponent(id)}`));
    await loadGeofences();
  }

  // ------------------------------------------------------------------ members (owners)
  async function loadMembers() {
    const data = await api("GET", wsPath("members"));
    const body = $("members").tBodies[0];
    clear(body);
    for (const m of data.members) {
      const select = el("select", null, { ariaLabel: `role of ${m.user}` });
      for (const r of Object.keys(RANK)) select.appendChild(el("option", r, { value: r }));
      select.value = m.role;
      select.addEventListener("change", () => setMember(m.user, select.value).catch(fail));
      const remove = el("button", "Remove", { type: "button" });
      remove.addEventListener("click", () => setMember(m.user, null).catch(fail));
      const tr = row([m.user, select, remove]);
      tr.setAttribute("data-member", m.user);
      tr.setAttribute("data-role", m.role);
      body.appendChild(tr);
    }
    hb.membersLoaded += 1;
  }

  async function setMember(user, role) {
    try {
      await api("PUT", wsPath("members"), { user, role });
      status(role ? `${user} is now ${role}` : `${user} removed`);
    } finally {
      await loadMembers();  // the list shows what the server holds, also after a refusal
    }
  }

  async function onMember(ev) {
    ev.preventDefault();
    try {
      await setMember($("member-user").value, $("member-role").value);
      $("member-user").value = "";
    } catch (err) {
      fail(err);
    }
  }

  // ------------------------------------------------------------------ an entity's profile (analysts)
  const CATEGORY_COLORS = { home: "#1f6feb", work: "#c2410c", regular: "#15803d", other: "#667085" };

  async function loadProfile() {
    const entity = hb.entity;
    if (!entity) return;
    let q = `?entity=${encodeURIComponent(entity)}`;
    if ($("profile-purpose").value) q += `&purpose=${encodeURIComponent($("profile-purpose").value)}`;
    status("making the profile…");
    const p = await api("GET", wsPath("profile") + q);
    if (entity !== hb.entity) return;
    status("");
    $("profile-body").hidden = false;
    const c = p.coverage || {};
    $("profile-summary").textContent =
      `${p.n_fixes} fixes from ${when(p.first_fix)} to ${when(p.last_fix)} (${p.tz}); ` +
      `${Number(c.hours_with_data || 0).toFixed(1)} of ${Number(c.hours || 0).toFixed(1)} h with data; ` +
      `${p.n_stays} stays, ${p.n_trips} trips, ${p.places.length} places`;
    const layer = hb.layers.profile;
    layer.clearLayers();
    const body = $("profile-places").tBodies[0];
    clear(body);
    for (const pl of p.places) {
      const cat = pl.category || "other";
      const name = pl.label || coords(pl.lat, pl.lon);
      const circle = L.circle([pl.lat, pl.lon], {
        radius: Math.max(pl.extent_m || 0, 60), color: CATEGORY_COLORS[cat] || CATEGORY_COLORS.other, weight: 2,
        fillOpacity: 0.15, className: `hb-profile-place hb-cat-${cat}`,
      }).bindTooltip(el("span", `${cat}: ${name}${pl.town ? ` near ${pl.town}` : ""}`));
      circle.addTo(layer);
      const b = el("button", name, { type: "button", class: "link" });
      b.addEventListener("click", () => fitTo(circle));
      const tr = row([b, el("span", cat, { class: `cat-${cat}` }), pl.n_visits, duration(pl.dwell_s)]);
      tr.setAttribute("data-category", cat);
      body.appendChild(tr);
    }
    if (!p.places.length) body.appendChild(row(["no places in this period", "", "", ""]));
    const stats = $("profile-stats").tBodies[0];
    clear(stats);
    for (const st of p.stats) {
      const tr = row([st.label, st.value]);
      tr.title = st.method;
      stats.appendChild(tr);
    }
    const b = layer.getBounds();
    if (b.isValid()) hb.map.fitBounds(b.pad(0.3), { maxZoom: 16 });
    hb.profiled += 1;
  }

  document.addEventListener("DOMContentLoaded", () => { start().catch(fail); });
})();
