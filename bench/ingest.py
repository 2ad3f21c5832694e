#!/usr/bin/env python3
"""Issue 5, through HTTP: (d) end-to-end ingest with alerts written, and IOC change ->
effective latency under ingest load.

    python3 bench/ingest.py --data DIR [--store DIR] [--chunk 10000] [--loops 200]

--data is a bench/gen.py directory (defs, IOCs, events); --store a server data directory
holding exactly that data set (bench/store.py leaves one; it is created and loaded here if
missing). Then:
  (d) events.ndjson is POSTed to /ingest/v1/events?format=native in bodies of --chunk events,
      one request after the other on one connection (and again with --concurrency
      connections); every response must accept every line; alerts are stored before each
      response. Reported: events/s and MB/s, and the alerts created.
  propagation: repeat: create an IOC (a fresh SHA256) through the API, and as soon as the
      201 has arrived, ingest one event carrying that SHA256; the ingest response must report
      an alert (stored durably before the response). Reported: the distribution of the time
      from the API write's response to the matching ingest's response (goal: p99 <= 10 ms),
      first with no other traffic, then while a second process ingests bodies of 1000 events
      in a loop; beside it the same ingest of a non-matching event, the API write itself, and
      the fsync latency of the disk the store is on (the floor of any durable write).
"""
import argparse
import datetime
import json
import multiprocessing
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from openti_bench import ROOT, Client, Server, fsync_probe, log, machine, median, ms, open_store, pct, q  # noqa: E402

INGEST = "/ingest/v1/events?format=native"


def chunks(path, per_body):
    with open(path, "rb") as f:
        lines = f.read().splitlines(keepends=True)
    return [b"".join(lines[i:i + per_body]) for i in range(0, len(lines), per_body)], len(lines)


def ingest_all(server, token, bodies, concurrency):
    """Sends every body; returns (seconds, accepted, alerts)."""
    lock = threading.Lock()
    state = {"next": 0, "accepted": 0, "alerts": 0, "error": None}

    def worker():
        c = Client(server, token)
        while True:
            with lock:
                i = state["next"]
                state["next"] += 1
            if i >= len(bodies) or state["error"]:
                break
            status, data, _ = c.request("POST", INGEST, bodies[i], {"Content-Type": "application/x-ndjson"})
            if status != 200:
                state["error"] = "ingest -> %s: %s" % (status, data[:300])
                break
            r = json.loads(data)
            if r["rejected"]:
                state["error"] = "ingest rejected lines: %s" % r["errors"][:3]
                break
            with lock:
                state["accepted"] += r["accepted"]
                state["alerts"] += r["alerts"]
        c.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if state["error"]:
        raise SystemExit(state["error"])
    return time.perf_counter() - t0, state["accepted"], state["alerts"]


def load_loop(host, port, token, body, stop, counter, bodies_per_s=0.0):
    """Background ingest load (a separate process, so it does not share this one's GIL), as
    fast as the server answers, or paced at `bodies_per_s` if that is set."""
    import http.client
    conn = http.client.HTTPConnection(host, port, timeout=600)
    h = {"Authorization": "Bearer " + token, "Content-Type": "application/x-ndjson"}
    t_next = time.perf_counter()
    while not stop.is_set():
        if bodies_per_s > 0:
            t_next += 1.0 / bodies_per_s
            pause = t_next - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        conn.request("POST", INGEST, body=body, headers=h)
        r = conn.getresponse()
        r.read()
        with counter.get_lock():
            counter.value += 1


def event_line(device, sha256):
    ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps({"Timestamp": ts, "DeviceId": device, "DeviceName": device + ".contoso.local",
                       "ActionType": "FileCreated", "FileName": "dropper.exe", "SHA256": sha256}).encode() + b"\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="a bench/gen.py output directory")
    ap.add_argument("--store", help="the server data directory (default target/bench-data/ingest-store)")
    ap.add_argument("--chunk", type=int, default=int(os.environ.get("BENCH_INGEST_CHUNK", 10000)))
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_INGEST_REPS", 3)),
                    help="runs of (d) per connection count; the median is reported")
    ap.add_argument("--loops", type=int, default=int(os.environ.get("BENCH_PROPAGATION_LOOPS", 200)))
    ap.add_argument("--load-rate", type=float, default=0.0,
                    help="events/s of the second client during the propagation measurement (bodies of 1000); "
                         "0 (the default): as fast as the server answers")
    ap.add_argument("--json", help="write the figures to this file")
    a = ap.parse_args()

    store = a.store or os.path.join(ROOT, "target", "bench-data", "ingest-store")
    server, load = open_store(store, a.data)
    result = {"machine": machine()}
    try:
        if load:
            print("store: loaded %d definitions and the IOCs in %.1f s" % (load["definitions"], load["total_s"]))
        api_token = server.token()
        token = server.ingest_token()
        api = Client(server, api_token)
        n_iocs, _ = api.json("GET", "/V1.0/IndicatorsOfCompromise/$count", expect=(200,))
        server.set_quotas(1000000, max(1000000, int(n_iocs)) + 100000, 1000000)

        # (d) end to end
        bodies, n_events = chunks(os.path.join(a.data, "events.ndjson"), a.chunk)
        size = sum(len(b) for b in bodies)
        runs = {}
        for conc in sorted({1, a.concurrency}):
            secs_all = []
            for _ in range(a.reps):
                secs, accepted, alerts = ingest_all(server, token, bodies, conc)
                assert accepted == n_events, (accepted, n_events)
                secs_all.append(secs)
            secs = median(secs_all)
            runs[conc] = {"seconds": secs, "all_seconds": secs_all, "events_s": n_events / secs,
                          "mb_s": size / 1e6 / secs, "alerts_last_run": alerts}
            print("(d) HTTP ingest of %d events (%.1f MB, %d bodies of %d) against %d IOCs, %d connection(s): median of %d "
                  "runs %.2f s (%s), %.0f events/s, %.1f MB/s; %d alerts created or updated per run"
                  % (n_events, size / 1e6, len(bodies), a.chunk, int(n_iocs), conc, a.reps, secs,
                     ", ".join("%.2f" % x for x in secs_all), n_events / secs, size / 1e6 / secs, alerts))
        result["ingest"] = {"events": n_events, "bytes": size, "chunk": a.chunk, "iocs": int(n_iocs),
                            "runs": {str(k): v for k, v in runs.items()}}

        # propagation: first with no other traffic, then under ingest load
        defs, _ = api.json("GET", q("/V1.0/AlertDefinitions", **{"$top": "1", "$select": "Id"}), expect=(200,))
        def_id = defs["value"][0]["Id"]
        ing = Client(server, token)
        rnd = random.Random(11)
        created = []

        def loop(n, tag):
            write_t, effective, plain, misses = [], [], [], 0
            for i in range(n):
                sha = "%064x" % rnd.getrandbits(256)
                body, tw = api.json("POST", "/V1.0/IndicatorsOfCompromise", {
                    "Type": "Sha256", "Value": sha, "AlertDefinition@odata.bind": "AlertDefinitions(%d)" % def_id})
                created.append(body["Id"])
                device = "prop-%s-%d" % (tag, i)
                status, data, te = ing.request("POST", INGEST, event_line(device, sha), {"Content-Type": "application/x-ndjson"})
                if status != 200 or json.loads(data)["alerts"] < 1:
                    misses += 1
                write_t.append(tw)
                effective.append(te)
                status, data, tp = ing.request("POST", INGEST, event_line(device, "%064x" % rnd.getrandbits(256)),
                                               {"Content-Type": "application/x-ndjson"})
                plain.append(tp)
            return write_t, effective, plain, misses

        def summary(write_t, effective, plain, misses, fsyncs):
            return {"loops": len(effective), "misses": misses,
                    "effective_ms": {"p50": median(effective) * 1e3, "p90": pct(effective, 90) * 1e3,
                                     "p99": pct(effective, 99) * 1e3, "max": max(effective) * 1e3},
                    "plain_ingest_ms": {"p50": median(plain) * 1e3, "p99": pct(plain, 99) * 1e3},
                    "write_ms": {"p50": median(write_t) * 1e3, "p99": pct(write_t, 99) * 1e3},
                    "fsync_ms": {"p50": median(fsyncs) * 1e3, "p99": pct(fsyncs, 99) * 1e3}}

        def report(label, r):
            e, p, w, f = r["effective_ms"], r["plain_ingest_ms"], r["write_ms"], r["fsync_ms"]
            print("IOC change -> effective, %s (%d loops): API write response -> matching ingest response (alert stored) "
                  "p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (goal p99 <= 10 ms); %d ingests raised no alert"
                  % (label, r["loops"], e["p50"], e["p90"], e["p99"], e["max"], r["misses"]))
            print("  beside it: ingest of one non-matching event p50 %.2f ms, p99 %.2f ms; the API write itself p50 %.2f ms, "
                  "p99 %.2f ms; fsync of this disk meanwhile (floor of a durable alert) p50 %.2f ms, p99 %.2f ms"
                  % (p["p50"], p["p99"], w["p50"], w["p99"], f["p50"], f["p99"]))

        idle = summary(*loop(max(10, a.loops // 2), "idle"), fsync_probe(store))
        report("no other traffic", idle)

        load_body = b"".join(bodies[0].splitlines(keepends=True)[:1000])
        stop = multiprocessing.Event()
        counter = multiprocessing.Value("i", 0)
        loader = multiprocessing.Process(target=load_loop, args=(server.host, server.port, token, load_body, stop, counter,
                                                                   a.load_rate / 1000.0))
        loader.start()
        time.sleep(0.5)
        t_loop = time.perf_counter()
        w, e, p, misses = loop(a.loops, "load")
        fsyncs = fsync_probe(store)
        loop_s = time.perf_counter() - t_loop
        stop.set()
        loader.join(timeout=120)
        loaded = summary(w, e, p, misses, fsyncs)
        loaded["load_events_s"] = counter.value * 1000 / loop_s
        report("under ingest load (a second client: %.0f events/s in bodies of 1000)" % loaded["load_events_s"], loaded)
        for ioc_id in created:
            api.request("DELETE", "/V1.0/IndicatorsOfCompromise(%d)" % ioc_id)
        result["propagation"] = {"idle": idle, "under_load": loaded}
        misses = idle["misses"] + loaded["misses"]
        api.close()
        ing.close()
        if misses:
            raise SystemExit("%d matching ingests raised no alert: the IOC was not effective" % misses)
    finally:
        server.stop()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
