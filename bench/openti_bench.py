"""Helpers shared by the HTTP benchmarks (standard library only): start a release server on an
ephemeral port, read its credentials, keep-alive requests with client-side timing, load a
generated data set through the API, and small statistics.

The server is the real binary, `target/release/openti` (or $OPENTI_BIN), started as a user
would: `openti --data-dir DIR serve --listen 127.0.0.1:0`.
"""
import http.client
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BIN = os.environ.get("OPENTI_BIN", os.path.join(ROOT, "target", "release", "openti"))
BULK = 5000  # entities per bulk upload (SPEC A.6)


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# statistics

def pct(values, p):
    """The p-th percentile (nearest rank) of values."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def median(values):
    if not values:
        return float("nan")
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2.0


def ms(seconds):
    return "%.2f ms" % (seconds * 1000.0)


def fsync_probe(directory, n=100):
    """Latencies of n fsyncs of a 4 KiB append in `directory`: the floor of any durable write
    (SQLite in WAL mode with synchronous=FULL syncs the WAL on every commit)."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    times = []
    try:
        for _ in range(n):
            os.write(fd, b"x" * 4096)
            t0 = time.perf_counter()
            os.fsync(fd)
            times.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        os.remove(path)
    return times


def machine():
    """A one-line description of this machine, for the report."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = ", %.0f GiB RAM" % (kb / 1048576.0)
    except (OSError, ValueError, IndexError):
        pass
    return "%d cores (%s)%s, %s" % (os.cpu_count() or 0, cpu, mem, os.uname().release)


# ---------------------------------------------------------------------------------------------
# the server

class Server:
    """A running `openti serve` on a data directory. `startup_s` is the time from launching
    the process to its "listening" line (the matcher index is loaded before that line)."""

    def __init__(self, data_dir, log_path=None):
        if not os.path.exists(BIN):
            raise SystemExit("%s not found: build it with `cargo build --release -p openti`" % BIN)
        self.data_dir = data_dir
        os.makedirs(data_dir, exist_ok=True)
        self.log_path = log_path or os.path.join(data_dir, "bench-server.log")
        self.log_file = open(self.log_path, "ab")
        env = dict(os.environ)
        env.setdefault("OPENTI_LOG", "warn")
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [BIN, "--data-dir", data_dir, "serve", "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=self.log_file, env=env, text=True, bufsize=1)
        self.url = None
        deadline = time.monotonic() + 600
        lines = []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"OpenTI is listening on (\S+)", line)
            if m:
                self.url = m.group(1).rstrip("/")
                break
        self.startup_s = time.perf_counter() - started
        if not self.url:
            self.stop()
            raise SystemExit("the server did not start; its output:\n%s\n(log: %s)" % ("".join(lines), self.log_path))
        # Keep draining stdout so the server never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        parsed = urllib.parse.urlsplit(self.url)
        self.host, self.port = parsed.hostname, parsed.port
        with open(os.path.join(data_dir, "custom-ti-app.json")) as f:
            self.details = json.load(f)
        self.token_url = "%s/%s/oauth2/token" % (self.url, self.details["TenantId"])

    def cli(self, *args):
        out = subprocess.run([BIN, "--data-dir", self.data_dir] + list(args), check=True,
                             stdout=subprocess.PIPE, text=True)
        return out.stdout

    def token(self, client_id=None, client_secret=None):
        body = urllib.parse.urlencode({
            "grant_type": "client_credentials",
            "client_id": client_id or self.details["ClientId"],
            "client_secret": client_secret or self.details["ClientSecret"],
            "resource": "https://graph.windows.net",
        })
        c = Client(self, None)
        status, data, _ = c.request("POST", urllib.parse.urlsplit(self.token_url).path, body,
                                    {"Content-Type": "application/x-www-form-urlencoded"})
        c.close()
        if status != 200:
            raise SystemExit("token request failed: %s %s" % (status, data[:300]))
        return json.loads(data)["access_token"]

    def ingest_token(self):
        """A token of an application with the Telemetry.Ingest role (created once per data dir)."""
        path = os.path.join(self.data_dir, "bench-sensor.json")
        if not os.path.exists(path):
            out = self.cli("app", "create", "--tenant", "default", "--name", "bench-sensor",
                           "--roles", "Telemetry.Ingest", "--json")
            with open(path, "w") as f:
                f.write(out)
        with open(path) as f:
            app = json.load(f)
        return self.token(app["ClientId"], app["ClientSecret"])

    def set_quotas(self, definitions, iocs, non_equals):
        self.cli("tenant", "quota", "--tenant", "default", "--max-definitions", str(definitions),
                 "--max-iocs", str(iocs), "--max-non-equals-iocs", str(non_equals))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()


class Client:
    """One keep-alive connection; `request` returns (status, body bytes, seconds), timed from
    sending the request to having read the whole response."""

    def __init__(self, server, token):
        self.server = server
        self.token = token
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=600)

    def request(self, method, path, body=None, headers=None):
        h = {"Accept": "application/json"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        if isinstance(body, (dict, list)):
            body = json.dumps(body, separators=(",", ":")).encode()
            h["Content-Type"] = "application/json"
        elif isinstance(body, str):
            body = body.encode()
        h.update(headers or {})
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            try:
                t0 = time.perf_counter()
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                return r.status, data, time.perf_counter() - t0
            except (http.client.HTTPException, ConnectionError, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def json(self, method, path, body=None, expect=(200, 201), headers=None):
        status, data, t = self.request(method, path, body, headers)
        if status not in expect:
            raise SystemExit("%s %s -> %s: %s" % (method, path, status, data[:500]))
        return (json.loads(data) if data else None), t

    def close(self):
        if self.conn:
            self.conn.close()


def q(path, **params):
    """A path with OData query options, percent-encoded as clients send them."""
    return path + "?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote, safe="$,'()")


# ---------------------------------------------------------------------------------------------
# generated data (bench/gen.py) and loading it through the API

def gen(out, defs, iocs, events, hit_permille=2.0):
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen.py"), out, "--defs", str(defs),
                    "--iocs", str(iocs), "--events", str(events), "--hit-permille", str(hit_permille)], check=True)
    return out


def read_ndjson(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def ioc_body(ioc, def_id):
    return {"Type": ioc["Type"], "Value": ioc["Value"], "DetectionFunction": ioc["DetectionFunction"],
            "AlertDefinition@odata.bind": "AlertDefinitions(%d)" % def_id}


def load_store(server, client, data_dir):
    """Uploads the definitions and IOCs of a gen.py directory through bulk uploads; returns
    the definition ids (in file order) and the timings of the IOC bulk uploads."""
    defs = read_ndjson(os.path.join(data_dir, "defs.ndjson"))
    iocs = read_ndjson(os.path.join(data_dir, "iocs.ndjson"))
    non_equals = sum(1 for i in iocs if i["DetectionFunction"] != "Equals")
    server.set_quotas(max(10000, len(defs)), max(1000000, len(iocs) + 100000), max(50000, non_equals + 10000))
    ids = []
    for start in range(0, len(defs), BULK):
        body, _ = client.json("POST", "/V1.0/AlertDefinitions/Actions.BulkUpload",
                              {"alertDefinitions": defs[start:start + BULK]}, expect=(200,))
        ids.extend(d["Id"] for d in body["value"])
    times = []
    t_all = time.perf_counter()
    for start in range(0, len(iocs), BULK):
        chunk = [ioc_body(i, ids[i["Def"]]) for i in iocs[start:start + BULK]]
        payload = json.dumps({"iocs": chunk}, separators=(",", ":")).encode()
        status, data, t = client.request("POST", "/V1.0/IndicatorsOfCompromise/Actions.BulkUpload", payload,
                                         {"Content-Type": "application/json"})
        if status != 200:
            raise SystemExit("bulk upload at IOC %d -> %s: %s" % (start, status, data[:500]))
        times.append(t)
        if len(times) % 20 == 0:
            log("  loaded %d/%d IOCs (last bulk %s)" % (start + len(chunk), len(iocs), ms(t)))
    return ids, times, time.perf_counter() - t_all


def open_store(store_dir, data_dir):
    """A server on `store_dir` holding the data set of `data_dir`: reused if it already holds
    exactly that data set (a stamp records which), else created and loaded. Returns
    (server, load report or None)."""
    stamp_path = os.path.join(data_dir, "stamp.json")
    with open(stamp_path) as f:
        want = json.load(f)
    have_path = os.path.join(store_dir, "bench-data-stamp.json")
    if os.path.exists(have_path):
        with open(have_path) as f:
            if json.load(f) == want:
                server = Server(store_dir)
                return server, None
    shutil.rmtree(store_dir, ignore_errors=True)
    server = Server(store_dir)
    client = Client(server, server.token())
    log("loading %s into a new store at %s …" % (data_dir, store_dir))
    ids, times, total = load_store(server, client, data_dir)
    client.close()
    with open(have_path, "w") as f:
        json.dump(want, f)
    return server, {"definitions": len(ids), "bulk_times": times, "total_s": total}


def random_sample(seq, k, seed=7):
    r = random.Random(seed)
    return r.sample(seq, min(k, len(seq)))
