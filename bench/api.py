#!/usr/bin/env python3
"""Issue 3: bulk upload of 5000 IOCs, and GET by key under load with wrk, on a release server.

    python3 bench/api.py [--runs 20] [--bulk 5000] [--wrk-seconds 10] [--connections 64]

Starts `target/release/openti serve` on a fresh temporary data directory, creates one alert
definition, then
  1. uploads --runs bulk uploads of --bulk IOCs each (the realistic mix of bench/gen.py),
     timing each request from the client (send to last byte read); reports the median
     (goal: <= 100 ms for 5000);
  2. runs wrk (Debian package `wrk`) for --wrk-seconds with --connections connections and
     2 threads against GET /V1.0/IndicatorsOfCompromise(ID), ID random among the uploaded
     IOCs, with the bearer token added by a Lua script; reports requests/s (goal >= 20,000)
     and wrk's latency distribution (goal: p99 <= 10 ms).
The load generator runs on the same machine as the server and takes CPU from it.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen as generator  # noqa: E402
from openti_bench import Client, Server, log, machine, median, ms, pct  # noqa: E402

LUA = """
local lo, hi = %d, %d
local token = "%s"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Accept"] = "application/json"
math.randomseed(%d)
request = function()
  return wrk.format("GET", "/V1.0/IndicatorsOfCompromise(" .. math.random(lo, hi) .. ")")
end
"""


def parse_wrk(text):
    out = {}
    m = re.search(r"Requests/sec:\s*([\d.]+)", text)
    out["requests_per_s"] = float(m.group(1)) if m else None
    unit = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}
    dist = {}
    for p, v, u in re.findall(r"^\s*(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M):
        dist["p" + p] = float(v) * unit[u]
    out["latency_ms"] = dist
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors:(.*)", text)
    out["socket_errors"] = m.group(1).strip() if m else ""
    m = re.search(r"(\d+) requests in", text)
    out["requests"] = int(m.group(1)) if m else None
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_API_RUNS", 20)))
    ap.add_argument("--bulk", type=int, default=5000)
    ap.add_argument("--wrk-seconds", type=int, default=int(os.environ.get("BENCH_WRK_SECONDS", 10)))
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write the figures to this file")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="openti-bench-api-")
    server = Server(os.path.join(tmp, "data"))
    result = {"machine": machine()}
    try:
        client = Client(server, server.token())
        d, _ = client.json("POST", "/V1.0/AlertDefinitions", {
            "Name": "bench", "Severity": "High", "Title": "Bench alert.", "UxDescription": "bench",
            "Category": "Malware"})
        def_id = d["Id"]

        # 1. bulk uploads
        g = generator.Gen(3)
        times, ids = [], []
        for run in range(a.runs):
            iocs = [generator.ioc(g, 0) for _ in range(a.bulk)]
            body = json.dumps({"iocs": [{"Type": t, "Value": v, "DetectionFunction": f,
                                          "AlertDefinition@odata.bind": "AlertDefinitions(%d)" % def_id}
                                         for t, v, f in iocs]}, separators=(",", ":")).encode()
            status, data, t = client.request("POST", "/V1.0/IndicatorsOfCompromise/Actions.BulkUpload", body,
                                             {"Content-Type": "application/json"})
            if status != 200:
                raise SystemExit("bulk upload -> %s: %s" % (status, data[:400]))
            created = json.loads(data)["value"]
            assert len(created) == a.bulk
            ids.extend(c["Id"] for c in created)
            times.append(t)
        body_kib = len(body) / 1024.0
        result["bulk"] = {"size": a.bulk, "runs": a.runs, "body_kib": body_kib, "median_ms": median(times) * 1e3,
                          "all_ms": [round(t * 1e3, 1) for t in times],
                          "min_ms": min(times) * 1e3, "p90_ms": pct(times, 90) * 1e3, "max_ms": max(times) * 1e3,
                          "first_ms": times[0] * 1e3}
        print("bulk upload of %d IOCs (%.0f KiB body), %d runs into one store: median %s, min %s, p90 %s, max %s "
              "(goal: median <= 100 ms)" % (a.bulk, body_kib, a.runs, ms(median(times)), ms(min(times)),
                                            ms(pct(times, 90)), ms(max(times))))
        print("  each, in order: %s ms" % " ".join("%.0f" % (t * 1e3) for t in times))

        # 2. GET by key with wrk
        if shutil.which("wrk") is None:
            print("wrk not found (apt-get install wrk): GET by key skipped")
        else:
            # A single GET first, so a failure shows up as an error rather than as a fast 401.
            one, t1 = client.json("GET", "/V1.0/IndicatorsOfCompromise(%d)" % ids[0], expect=(200,))
            lua = os.path.join(tmp, "get.lua")
            with open(lua, "w") as f:
                f.write(LUA % (min(ids), max(ids), client.token, 42))
            cmd = ["wrk", "-t%d" % a.threads, "-c%d" % a.connections, "-d%ds" % a.wrk_seconds, "--latency",
                   "-s", lua, server.url]
            out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
            w = parse_wrk(out)
            result["get_by_key"] = w
            lat = w["latency_ms"]
            print("GET by key, wrk -t%d -c%d -d%ds over %d IOCs: %.0f requests/s (goal >= 20,000); latency p50 %.2f ms, "
                  "p75 %.2f ms, p90 %.2f ms, p99 %.2f ms (goal p99 <= 10 ms); non-2xx %d"
                  % (a.threads, a.connections, a.wrk_seconds, len(ids), w["requests_per_s"] or 0, lat.get("p50", 0),
                     lat.get("p75", 0), lat.get("p90", 0), lat.get("p99", 0), w["non_2xx"]))
            print("wrk output:\n" + "\n".join("    " + l for l in out.rstrip().splitlines()))
            if w["non_2xx"]:
                raise SystemExit("wrk saw non-2xx responses: the figures are not valid")
        client.close()
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
