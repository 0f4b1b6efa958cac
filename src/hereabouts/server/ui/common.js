/* hereabouts web UI: helpers shared by the app and the share page (no framework, no build step).
   Every value from the server is put on the page with textContent, never as HTML. */
"use strict";

const HB = (() => {
  /** Call the JSON API; throws an Error carrying the server's message (and .status, .code). */
  async function api(method, path, body) {
    const opts = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const resp = await fetch(path, opts);
    let data = null;
    const text = await resp.text();
    if (text) {
      try { data = JSON.parse(text); } catch (_e) { data = null; }
    }
    if (!resp.ok) {
      const e = data && data.error ? data.error : {};
      const err = new Error(e.message || `${method} ${path}: HTTP ${resp.status}`);
      err.status = resp.status;
      err.code = e.code;
      err.field = e.field;
      throw err;
    }
    return data;
  }

  /** A new element with text content and attributes (values are set as properties/attributes, never parsed). */
  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (attrs) for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k.startsWith("data-")) node.setAttribute(k, String(v));
      else node[k] = v;
    }
    return node;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) {
      const td = document.createElement("td");
      if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined ? "" : String(c);
      tr.appendChild(td);
    }
    return tr;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  const dtf = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false,
  });
  const tf = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hour12: false });

  function when(iso) { return iso ? dtf.format(new Date(iso)) : ""; }
  function clock(iso) { return iso ? tf.format(new Date(iso)) : ""; }

  function duration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "";
    const s = Math.max(0, Math.round(seconds));
    if (s < 90) return `${s} s`;
    if (s < 5400) return `${Math.round(s / 60)} min`;
    if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
    return `${(s / 86400).toFixed(1)} days`;
  }

  function coords(lat, lon) { return `${Number(lat).toFixed(5)}, ${Number(lon).toFixed(5)}`; }

  /** Local calendar day (YYYY-MM-DD, in the browser's time zone) of an ISO time. */
  function localDay(iso) {
    const d = iso ? new Date(iso) : new Date();
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  }

  /** [start, end) of a local calendar day as ISO UTC strings. */
  function dayRange(day) {
    const [y, m, d] = day.split("-").map(Number);
    const start = new Date(y, m - 1, d);
    const end = new Date(y, m - 1, d + 1);
    return [start.toISOString(), end.toISOString()];
  }

  /** A latitude/longitude grid drawn on canvas tiles: the map's only background (no tiles offline). */
  const GridLayer = L.GridLayer.extend({
    createTile(coords) {
      const tile = document.createElement("canvas");
      const size = this.getTileSize();
      tile.width = size.x;
      tile.height = size.y;
      const ctx = tile.getContext("2d");
      const map = this._map;
      const z = coords.z;
      const nw = coords.scaleBy(size);
      const a = map.unproject(nw, z);
      const b = map.unproject(nw.add(size), z);
      const step = z >= 15 ? 0.002 : z >= 12 ? 0.01 : z >= 9 ? 0.1 : z >= 6 ? 1 : 10;
      ctx.strokeStyle = "#d5dbe3";
      ctx.lineWidth = 1;
      for (let lat = Math.ceil(b.lat / step) * step; lat <= a.lat; lat += step) {
        const y = Math.round(map.project([lat, a.lng], z).y - nw.y) + 0.5;
        ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(size.x, y); ctx.stroke();
      }
      for (let lon = Math.ceil(a.lng / step) * step; lon <= b.lng; lon += step) {
        const x = Math.round(map.project([a.lat, lon], z).x - nw.x) + 0.5;
        ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, size.y); ctx.stroke();
      }
      return tile;
    },
  });

  function makeMap(id) {
    const map = L.map(id, { zoomControl: true, preferCanvas: false, worldCopyJump: true });
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution("no map tiles offline");
    new GridLayer({ className: "hb-grid" }).addTo(map);
    L.control.scale({ imperial: false }).addTo(map);
    map.setView([52.09, 5.12], 12);
    return map;
  }

  function status(text, isError) {
    const s = document.getElementById("status");
    if (!s) return;
    s.textContent = text || "";
    s.className = isError ? "error" : "muted";
  }

  return { api, el, row, clear, when, clock, duration, coords, localDay, dayRange, makeMap, status };
})();
