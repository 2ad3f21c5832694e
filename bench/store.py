#!/usr/bin/env python3
"""Issue 4: OData queries on a large store, and (issue 5) cold start with that store.

    python3 bench/store.py [--iocs 1000000] [--defs 10000] [--store DIR] [--reps 30] [--page 900]

Generates (bench/gen.py) --defs alert definitions and --iocs IOCs in the realistic mix,
loads them into a release server through bulk uploads of 5000 (quotas raised with
`openti tenant quota`), then measures from a keep-alive client, each figure the median of
--reps requests (time from sending to the last byte of the response):
  1. $filter on an indexed column: Type eq 'Sha256' and Value eq '<a stored value>', a
     different value each request (goal: median <= 5 ms);
  2. contains(Value,'…') over all IOCs: a substring no IOC has (the whole table is scanned)
     and a common one (the first page fills early); reported as is;
  3. a full scan through @odata.nextLink (server-driven paging, 1000 a page): page 1 and page
     --page (or the last page if there are fewer), each fetched again --reps times
     (goal: within 2x of each other);
  4. $count=true on a filtered set (Type eq 'Sha256'), and the /$count path segment;
  5. cold start: the server restarted --restarts times on this store; the time from
     launching `openti serve` to its "listening" line, after which the matcher holds every
     IOC (goal: <= 3 s with 1M IOCs).
The store is kept in --store (default target/bench-data/store-<iocs>) and reused by later
runs with the same parameters (and by bench/ingest.py).
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from openti_bench import (ROOT, Client, Server, gen, log, machine, median, ms, open_store, pct, q,  # noqa: E402
                          random_sample, read_ndjson)


def timed(client, path, reps, check=None):
    times = []
    body = None
    for _ in range(reps):
        body, t = client.json("GET", path, expect=(200,))
        if check:
            check(body)
        times.append(t)
    return times, body


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iocs", type=int, default=int(os.environ.get("BENCH_STORE_IOCS", 1000000)))
    ap.add_argument("--defs", type=int, default=int(os.environ.get("BENCH_STORE_DEFS", 10000)))
    ap.add_argument("--data", help="a bench/gen.py directory to use instead of generating one")
    ap.add_argument("--store", help="the server's data directory (kept and reused)")
    ap.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_STORE_REPS", 30)))
    ap.add_argument("--page", type=int, default=900)
    ap.add_argument("--restarts", type=int, default=int(os.environ.get("BENCH_STORE_RESTARTS", 3)))
    ap.add_argument("--json", help="write the figures to this file")
    a = ap.parse_args()

    data = a.data or gen(os.path.join(ROOT, "target", "bench-data", "gen-%d-%d" % (a.iocs, a.defs)), a.defs, a.iocs, 1000)
    with open(os.path.join(data, "stamp.json")) as f:
        stamp = json.load(f)
    a.iocs, a.defs = stamp["iocs"], stamp["defs"]
    store = a.store or os.path.join(ROOT, "target", "bench-data", "store-%d-%d" % (a.iocs, a.defs))
    result = {"machine": machine(), "iocs": a.iocs, "defs": a.defs}
    server, load = open_store(store, data)
    try:
        if load:
            bt = load["bulk_times"]
            result["load"] = {"total_s": load["total_s"], "bulk_median_ms": median(bt) * 1e3,
                              "bulk_first_ms": bt[0] * 1e3, "bulk_last_ms": bt[-1] * 1e3}
            print("load: %d IOCs over %d definitions in %.1f s (%.0f IOCs/s); bulk upload of 5000: median %s, "
                  "first %s, last %s (store growing from 0 to %d)"
                  % (a.iocs, load["definitions"], load["total_s"], a.iocs / load["total_s"], ms(median(bt)),
                     ms(bt[0]), ms(bt[-1]), a.iocs))
        else:
            print("load: reusing the store in %s" % store)
        c = Client(server, server.token())
        iocs = read_ndjson(os.path.join(data, "iocs.ndjson"))

        # 1. indexed equality
        shas = [i["Value"].lower() for i in iocs if i["Type"] == "Sha256"]
        sample = random_sample(shas, a.reps)
        times = []
        for v in sample:
            body, t = c.json("GET", q("/V1.0/IndicatorsOfCompromise", **{"$filter": "Type eq 'Sha256' and Value eq '%s'" % v}),
                             expect=(200,))
            assert len(body["value"]) >= 1, "a stored Sha256 was not found"
            times.append(t)
        result["filter_indexed"] = {"median_ms": median(times) * 1e3, "p90_ms": pct(times, 90) * 1e3}
        print("$filter=Type eq 'Sha256' and Value eq '…' (%d different values): median %s, p90 %s (goal: median <= 5 ms)"
              % (len(times), ms(median(times)), ms(pct(times, 90))))

        # 2. contains over everything
        reps = max(3, a.reps // 6)
        rare, b = timed(c, q("/V1.0/IndicatorsOfCompromise", **{"$filter": "contains(Value,'qqzzqq')"}), reps)
        n_rare = len(b["value"])
        common, b = timed(c, q("/V1.0/IndicatorsOfCompromise", **{"$filter": "contains(Value,'.com')"}), reps)
        n_common = len(b["value"])
        result["contains"] = {"rare_median_ms": median(rare) * 1e3, "rare_results": n_rare,
                              "common_median_ms": median(common) * 1e3, "common_results_page1": n_common}
        print("$filter=contains(Value,'qqzzqq') (no match: every IOC scanned): median %s over %d requests"
              % (ms(median(rare)), len(rare)))
        print("$filter=contains(Value,'.com') (common: first page of %d): median %s" % (n_common, ms(median(common))))

        # 3. paging through everything
        link = "/V1.0/IndicatorsOfCompromise"
        links, page_times = [], []
        t_scan = time.perf_counter()
        while link and len(links) < a.page:
            body, t = c.json("GET", link, expect=(200,))
            links.append(link)
            page_times.append(t)
            nxt = body.get("@odata.nextLink")
            if nxt and nxt.startswith("http"):
                nxt = nxt[nxt.index("/", nxt.index("//") + 2):]
            link = nxt
        scan_s = time.perf_counter() - t_scan
        page = len(links)
        first_link, target_link, target = links[0], links[-1], page
        p1, _ = timed(c, first_link, reps)
        pn, body = timed(c, target_link, reps)
        ratio = median(pn) / median(p1)
        result["paging"] = {"pages_walked": page, "scan_s": scan_s, "page1_median_ms": median(p1) * 1e3,
                            "page": target, "pageN_median_ms": median(pn) * 1e3, "ratio": ratio,
                            "walk_median_ms": median(page_times) * 1e3, "walk_max_ms": max(page_times) * 1e3}
        print("full scan via nextLink: %d pages of 1000 walked in %.1f s (page median %s, max %s); refetched: page 1 "
              "median %s, page %d median %s, ratio %.2f (goal: <= 2)"
              % (page, scan_s, ms(median(page_times)), ms(max(page_times)), ms(median(p1)), target, ms(median(pn)), ratio))

        # 4. counts
        cnt, b = timed(c, q("/V1.0/IndicatorsOfCompromise", **{"$filter": "Type eq 'Sha256'", "$count": "true", "$top": "1"}),
                       reps)
        n = b.get("@odata.count")
        seg, b2 = timed(c, q("/V1.0/IndicatorsOfCompromise/$count", **{"$filter": "Type eq 'Sha256'"}), reps)
        cnt_all, b3 = timed(c, q("/V1.0/IndicatorsOfCompromise", **{"$count": "true", "$top": "1"}), reps)
        result["count"] = {"filtered_median_ms": median(cnt) * 1e3, "filtered_count": n,
                           "segment_median_ms": median(seg) * 1e3, "all_median_ms": median(cnt_all) * 1e3,
                           "all_count": b3.get("@odata.count")}
        print("$filter=Type eq 'Sha256'&$count=true&$top=1 (@odata.count %s): median %s; /$count?$filter=…: median %s; "
              "$count=true over all (%s): median %s"
              % (n, ms(median(cnt)), ms(median(seg)), b3.get("@odata.count"), ms(median(cnt_all))))
        c.close()
    finally:
        server.stop()

    # 5. cold start
    starts = []
    for _ in range(a.restarts):
        s = Server(store)
        starts.append(s.startup_s)
        s.stop()
    if starts:
        result["cold_start"] = {"median_s": median(starts), "all_s": starts}
        print("cold start with %d IOCs: median %.2f s over %d restarts (%s) (goal: <= 3 s)"
              % (a.iocs, median(starts), len(starts), ", ".join("%.2f" % s for s in starts)))
    result["store_dir"] = store
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
