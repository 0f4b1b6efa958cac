"""Load on the live server over loopback: single-fix OwnTracks requests and Overland batches.

Starts ``hereabouts serve`` (uvicorn) on the embedded store and, when reachable, on PostgreSQL, with a
user and a device whose ingest token every request carries (the real authentication path). ``wrk``
(Debian package ``wrk``) sends the requests for a bounded time over keep-alive connections to
127.0.0.1 only; each request carries fixes no other request carries, so after the run the store must
hold at least as many fixes as were acknowledged (2xx): the zero-loss check. Prints requests/s,
fixes/s, p50/p99 acknowledgement latency and the loss check per store and mode.

No peer server can be installed on this machine (Traccar and OwnTracks Recorder are not in the
package registries reachable here), so the numbers are given against the goals: 5,000 single-fix
requests/s and 100,000 fixes/s in Overland batches.

Each run is preceded by a short warm-up (older fixes, not counted). Besides rates and latencies it
prints the CPU time of the server's processes per request (steadier than rates on a shared machine),
the requests per commit (from the server's log) and the 1-minute load average at the start.
``--workers N`` runs ``serve --workers N`` (N worker processes reading requests, one writer).

    python benchmarks/server_load.py --duration 10 --connections 64 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

import hereabouts as hb
from hereabouts.accounts import Accounts

LUA_SINGLE = r"""
local counter = 0
local tid = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  tid = tonumber(wrk.thread:get("tid")) or 0
end
request = function()
  counter = counter + 1
  local tst = BASE + tid * 100000000 + counter
  local lat = 52.0 + (counter % 10000) * 0.00001
  local body = string.format('{"_type":"location","tst":%d,"lat":%.5f,"lon":5.12,"acc":8,"tid":"ph"}', tst, lat)
  return wrk.format("POST", "/ingest/owntracks", {["Content-Type"]="application/json",
    ["Authorization"]="Basic " .. AUTH}, body)
end
done = function(summary, latency, requests)
  io.write(string.format('RESULT {"requests":%d,"duration_us":%d,"status_errors":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
"""

LUA_OVERLAND = r"""
local counter = 0
local tid = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  tid = tonumber(wrk.thread:get("tid")) or 0
end
request = function()
  counter = counter + 1
  local parts = {}
  for i = 1, BATCH do
    local s = BASE + tid * 100000000 + counter * BATCH + i
    parts[i] = string.format('{"type":"Feature","geometry":{"type":"Point","coordinates":[5.12,%.5f]},' ..
      '"properties":{"timestamp":"%s","horizontal_accuracy":8}}', 52.0 + (i % 1000) * 0.00001,
      os.date("!%Y-%m-%dT%H:%M:%SZ", s))
  end
  local body = '{"locations":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", "/ingest/overland?token=" .. TOKEN, {["Content-Type"]="application/json"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format('RESULT {"requests":%d,"duration_us":%d,"status_errors":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
"""


#: First fix time (epoch s) of the measured run's requests, and of the warm-up's (stored, not counted)
MEASURED_BASE = 1_700_000_000
WARMUP_BASE = 1_500_000_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("the server exited while starting") from None
            time.sleep(0.1)
    raise RuntimeError("the server did not start")


def _pg_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def _tree_cpu(proc: Any) -> float:
    """CPU seconds (user + system) of a psutil process and its children, so far."""
    import psutil

    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def run_one(store: str, mode: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    if store == "duckdb":
        target = str(work / f"load-{mode}.db")
        db_args = ["--db", target]
    else:
        target = f"postgresql://postgres@127.0.0.1:5432/test?schema=load_{uuid.uuid4().hex[:8]}"
        db_args = ["--db", target]
    db = hb.open(target)
    acc = Accounts(db.store)
    acc.add_user("bench", "bench-password")
    token, device = acc.add_device("bench", "phone")
    db.close()

    port = _free_port()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hereabouts",
            "-q",
            *db_args,
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ],
        stdout=subprocess.DEVNULL,
        stderr=(work / f"{store}-{mode}.log").open("w"),
        env=env,
    )
    try:
        _wait_port(port, proc)
        import base64

        if mode == "single":
            lua = LUA_SINGLE.replace("AUTH", json.dumps(base64.b64encode(f"bench:{token}".encode()).decode()))
            per_request = 1
        else:
            lua = LUA_OVERLAND.replace("TOKEN", json.dumps(token)).replace("BATCH", str(args.batch))
            per_request = args.batch
        if args.warmup > 0:  # first requests load modules and fill caches; their fixes are older
            warm = work / f"{store}-{mode}-warmup.lua"
            warm.write_text(lua.replace("BASE", str(WARMUP_BASE)))
            subprocess.run(
                ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.warmup}s",
                 "--timeout", "30s", "-s", str(warm), f"http://127.0.0.1:{port}"],
                capture_output=True, timeout=args.warmup + 120, check=True,
            )  # fmt: skip
        script = work / f"{store}-{mode}.lua"
        script.write_text(lua.replace("BASE", str(MEASURED_BASE)))
        import psutil

        server = psutil.Process(proc.pid)
        time.sleep(args.workers * 1.0)  # the workers start after the main process listens
        load = os.getloadavg()[0]
        cpu0 = _tree_cpu(server)
        out_path = work / f"{store}-{mode}.out"
        with out_path.open("w") as out_file:
            wrk = subprocess.Popen(
                ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.duration}s",
                 "--timeout", "30s", "-s", str(script), f"http://127.0.0.1:{port}"],
                stdout=out_file, stderr=subprocess.STDOUT,
            )  # fmt: skip
            cpu_end = cpu0
            wrk_cpu = 0.0
            wrk_ps = psutil.Process(wrk.pid)
            while wrk.poll() is None:  # the server's CPU up to the end of the load (not its shutdown)
                cpu_end = _tree_cpu(server)
                wrk_cpu = _tree_cpu(wrk_ps) or wrk_cpu
                time.sleep(0.2)
        text = out_path.read_text()
        line = next((ln for ln in text.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            raise RuntimeError(f"wrk failed: {text[-500:]}")
        res = json.loads(line[7:])
        res["server_cpu_s"] = cpu_end - cpu0
        res["load"] = load
        res["wrk_cpu_s"] = wrk_cpu
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
    groups = re.findall(
        r"committed (\d+) requests in (\d+) groups", (work / f"{store}-{mode}.log").read_text()
    )
    db = hb.open(target)
    try:
        t = db.fixes(device=device).column("t").cast(pa.int64())
        stored = int(pc.sum(pc.greater_equal(t, MEASURED_BASE * 1_000_000)).as_py() or 0)
        sources = db.sources().num_rows
    finally:
        if store == "postgres":
            schema = target.split("schema=")[1]
            con = db.store.connection()
            con.execute(f'DROP SCHEMA "{schema}" CASCADE')
            con.close()
        db.close()
    ok = res["requests"] - res["status_errors"]
    seconds = res["duration_us"] / 1e6
    return {
        "store": store,
        "mode": mode,
        "fixes_per_request": per_request,
        "requests": res["requests"],
        "acknowledged": ok,
        "refused_or_failed": res["status_errors"]
        + res["timeouts"]
        + res["read_errors"]
        + res["write_errors"],
        "requests_per_s": ok / seconds,
        "fixes_per_s": ok * per_request / seconds,
        "requests_per_commit": int(groups[0][0]) / max(1, int(groups[0][1])) if groups else None,
        "server_cpu_us_per_request": res["server_cpu_s"] / max(1, res["requests"]) * 1e6,
        "load_avg_1min": res["load"],
        "wrk_cpu_us_per_request": res["wrk_cpu_s"] / max(1, res["requests"]) * 1e6,
        "workers": args.workers,
        "p50_ms": res["p50_us"] / 1000,
        "p99_ms": res["p99_us"] / 1000,
        "max_ms": res["max_us"] / 1000,
        "stored_fixes": stored,
        "sources": sources,
        "acknowledged_lost": max(0, ok * per_request - stored),
    }


def parse_cpu(batch: int, repeats: int = 5) -> dict[str, float]:
    """Process CPU (µs) per request to parse and validate a payload, in process and without HTTP or
    the store (less sensitive to machine load than throughput): the request paths against the general
    paths they replace, interleaved in one run (median of ``repeats``). General: the vectorised sink
    (``SCALAR_ROWS = 0``) for one OwnTracks fix, the streaming GeoJSON reader for an Overland batch."""
    import datetime as dt
    import io
    import statistics

    from hereabouts.io import REGISTRY, ReadOptions, _base
    from hereabouts.server import _protocols as proto

    opts = ReadOptions(device="bench/phone", default_device="x")
    singles = [
        json.dumps({"_type": "location", "tst": 1_700_000_000 + i, "lat": 52 + i * 1e-5, "lon": 5.1, "acc": 8})
        .encode()
        for i in range(1000)
    ]  # fmt: skip
    batches = []
    for k in range(10):
        feats = [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [5.12, 52.0 + i * 1e-5]},
                "properties": {
                    "timestamp": dt.datetime.fromtimestamp(1_700_000_000 + k * batch + i, dt.UTC).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    ),
                    "horizontal_accuracy": 8,
                },
            }
            for i in range(batch)
        ]
        batches.append(json.dumps({"locations": feats}).encode())
    read = REGISTRY["geojson"].read

    def single(general: bool) -> float:
        saved = _base.SCALAR_ROWS
        _base.SCALAR_ROWS = 0 if general else saved
        try:
            t = time.process_time()
            for body in singles:
                proto.parse_owntracks(body, device="bench/phone", options=opts, key=None)
            return (time.process_time() - t) / len(singles) * 1e6
        finally:
            _base.SCALAR_ROWS = saved

    def overland(general: bool) -> float:
        t = time.process_time()
        for body in batches:
            if general:
                json.loads(body)
                proto.collect("overland", opts, lambda _s, ctx, b=body: read(io.BytesIO(b), ctx))
            else:
                proto.parse_overland(body, options=opts)
        return (time.process_time() - t) / len(batches) * 1e6

    single(False), overland(False)  # warm up
    runs: dict[str, list[float]] = {
        k: [] for k in ("single_general", "single", "overland_general", "overland")
    }
    for _ in range(repeats):
        runs["single_general"].append(single(True))
        runs["single"].append(single(False))
        runs["overland_general"].append(overland(True))
        runs["overland"].append(overland(False))
    return {k: statistics.median(v) for k, v in runs.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10, help="seconds per run (bounded)")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--batch", type=int, default=500, help="fixes per Overland request")
    ap.add_argument("--workers", type=int, default=0, help="serve --workers (0: one process)")
    ap.add_argument("--warmup", type=int, default=3, help="seconds of load before the measured run")
    ap.add_argument("--stores", default="duckdb,postgres")
    ap.add_argument("--modes", default="single,overland")
    ap.add_argument(
        "--parse-cpu", action="store_true", help="only measure in-process CPU per request of parsing"
    )
    args = ap.parse_args()
    if args.parse_cpu:
        cpu = parse_cpu(args.batch)
        print(f"parse+validate CPU per request (µs, median of 5): one OwnTracks fix {cpu['single']:.0f} "
              f"(general path {cpu['single_general']:.0f}, {cpu['single_general'] / cpu['single']:.1f}x); "
              f"Overland {args.batch}-fix batch {cpu['overland']:.0f} (general path "
              f"{cpu['overland_general']:.0f}, {cpu['overland_general'] / cpu['overland']:.1f}x)")  # fmt: skip
        print(json.dumps(cpu))
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    stores = [s for s in args.stores.split(",") if s != "postgres" or _pg_up()]
    with tempfile.TemporaryDirectory() as tmp:
        results = [run_one(s, m, args, Path(tmp)) for s in stores for m in args.modes.split(",")]
    import platform

    print(f"machine: {os.cpu_count()} cores {platform.machine()}; serve --workers {args.workers}; "
          f"{args.connections} connections, {args.duration} s per run, wrk threads {args.threads}, "
          f"server and load generator on the same machine; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")  # fmt: skip
    print(f"{'store':9} {'mode':9} {'req/s':>9} {'fixes/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'acked':>9} "
          f"{'stored':>9} {'lost':>5} {'failed':>6} {'cpu us/req':>10} {'req/commit':>10} {'load':>5}")  # fmt: skip
    for r in results:
        print(f"{r['store']:9} {r['mode']:9} {r['requests_per_s']:9.0f} {r['fixes_per_s']:10.0f} "
              f"{r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {r['acknowledged'] * r['fixes_per_request']:9d} "
              f"{r['stored_fixes']:9d} {r['acknowledged_lost']:5d} {r['refused_or_failed']:6d} "
              f"{r['server_cpu_us_per_request']:10.0f} {r['requests_per_commit'] or 0:10.1f} "
              f"{r['load_avg_1min']:5.1f}")  # fmt: skip
    print(
        "(cpu us/req: CPU time of the server's processes per request during the run; load: the "
        "1-minute load average when the run started)"
    )
    single = [r for r in results if r["mode"] == "single"]
    batch = [r for r in results if r["mode"] == "overland"]
    for r in single:
        print(f"{r['store']}: single-fix requests/s = {r['requests_per_s'] / 5000:.2f}x the 5,000/s goal")
    for r in batch:
        print(f"{r['store']}: Overland fixes/s = {r['fixes_per_s'] / 100_000:.2f}x the 100,000/s goal")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
