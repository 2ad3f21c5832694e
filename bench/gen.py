#!/usr/bin/env python3
"""Generates the benchmark data set: alert definitions, IOCs and native telemetry events.

    python3 bench/gen.py OUT_DIR [--defs 10000] [--iocs 1000000] [--events 1000000]
                                 [--non-equals-percent 5] [--hit-permille 2] [--seed 1]

Writes, in OUT_DIR:
  defs.ndjson    one AlertDefinition body per line
  iocs.ndjson    one IOC per line: {"Type","Value","DetectionFunction","Def"}; Def is the
                 0-based index of its definition in defs.ndjson (the uploader binds it)
  events.ndjson  native events (SPEC B.2 shape, ~410 bytes on average)
  stamp.json     the parameters, so that a second run with the same ones does nothing

The mix follows what IOC feeds hold: 40% file hashes (SHA256 18%, SHA1 10%, MD5 12%), 15% IP
addresses (7% /24 blocks, 0.1% /16 blocks, 8% IPv6), 20% domains, 10% URLs, 15% file names.
--non-equals-percent of the IOCs use a function other than Equals (StartWith, EndWith,
Contains on domains, URLs and file names). The default, 5%, is what a tenant's default quotas
allow at most (SPEC A.7: 50,000 non-Equals IOCs of 1,000,000); 12.25 is the stress mix earlier
figures used (above the default quota). Regex IOCs are rare (1 in 50,000 of each of Url and
FileName, at least 2). Values arrive as feeds write them: some hashes in upper
case, some domains with a trailing dot or upper case. Definitions own IOCs unevenly (a few
large feeds, many small ones).

Events: 40% network connections, 25% file creations, 20% DNS queries, 15% process
creations, over 500 devices; `--hit-permille` of them carry the value of some IOC, so
matching raises alerts. Deterministic for a given seed.
"""
import argparse
import json
import os
import random
import sys

SYL = ["ka", "lo", "mi", "ne", "so", "tu", "ra", "vi", "xe", "zo", "pa", "qu", "de", "fi", "go", "hy",
       "ba", "ce", "du", "ny", "or", "pi", "ru", "sa"]
TLDS = ["com", "net", "org", "ru", "xyz", "info", "io", "top", "cn", "de"]
EXTS = ["exe", "dll", "ps1", "bat", "scr", "sys", "js", "vbs", "hta", "lnk"]
CATEGORIES = ["Malware", "Trojan", "Backdoor", "SuspiciousNetworkTraffic", "CommandAndControl",
              "Ransomware", "CredentialTheft", "Exploit", "Persistence", "Reconnaissance"]
SEVERITIES = ["Informational", "Low", "Medium", "High"]
PROCS = [r"C:\Windows\System32\svchost.exe", r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
         r"C:\Program Files\Google\Chrome\Application\chrome.exe", r"C:\Windows\explorer.exe",
         r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE", r"C:\Windows\System32\rundll32.exe"]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def hex(self, n):
        return "%0*x" % (n, self.r.getrandbits(4 * n))

    # IOC values end their words in numbers below 1000, event values in numbers from 1000 on,
    # so that events match only where the generator plants an IOC value (--hit-permille),
    # not by chance collisions of short generated names.
    numbers = (0, 1000)

    def word(self):
        r = self.r
        return "".join(r.choice(SYL) for _ in range(r.randint(2, 5))) + str(r.randrange(*self.numbers))

    def domain(self):
        r = self.r
        if r.random() < 0.3:
            return "%s.%s.%s" % (self.word(), self.word(), r.choice(TLDS))
        return "%s.%s" % (self.word(), r.choice(TLDS))

    def ipv4(self):
        r = self.r
        return "%d.%d.%d.%d" % (r.randint(1, 223), r.randrange(256), r.randrange(256), r.randint(1, 254))

    def url(self, host=None):
        r = self.r
        scheme = "https" if r.random() < 0.6 else "http"
        return "%s://%s/%s/%s.php" % (scheme, host or self.domain(), self.word(), self.word())

    def file(self):
        return "%s.%s" % (self.word(), self.r.choice(EXTS))


# The non-Equals share of each type at --non-equals-percent 12.25 (the shape of the mix; the
# option scales these): domains 40%, URLs 20%, file names 15%.
BASE_NON_EQUALS = 12.25


def ioc(g, n_regex, scale=1.0):
    """One IOC as (Type, Value, DetectionFunction). `scale` multiplies the non-Equals shares."""
    r = g.r
    p = r.random() * 100
    # Below `cut` a type's IOC is Equals; above, the non-Equals functions keep their relative
    # shares: q is mapped back onto the 12.25% layout's thresholds.
    q = r.random() * 100

    def layout(equals_share):
        cut = 100 - (100 - equals_share) * scale
        return equals_share * q / cut if q < cut else equals_share + (q - cut) / scale
    if p < 18:
        return ("Sha256", g.hex(64).upper() if q < 10 else g.hex(64), "Equals")
    if p < 28:
        return ("Sha1", g.hex(40).upper() if q < 10 else g.hex(40), "Equals")
    if p < 40:
        return ("Md5", g.hex(32), "Equals")
    if p < 55:
        if q < 85:
            v = g.ipv4()
        elif q < 92:
            v = g.ipv4() + "/24"
        elif q < 92.1:
            v = g.ipv4() + "/16"
        elif q < 97:
            v = "2001:db8:%x::%x" % (r.randrange(65536), r.randrange(65536))
        else:
            v = "2001:db8:%x::/48" % r.randrange(65536)
        return ("IpAddress", v, "Equals")
    if p < 75:
        q = layout(60)
        if q < 60:
            d = g.domain()
            return ("DomainName", d.upper() + "." if q < 3 else d, "Equals")
        if q < 93:
            return ("DomainName", g.domain(), "EndWith")
        if q < 97:
            return ("DomainName", g.word() + ".", "StartWith")
        return ("DomainName", g.word() + "-", "Contains")
    if p < 85:
        q = layout(80)
        if q < 80:
            return ("Url", g.url(), "Equals")
        if q < 90:
            return ("Url", "https://%s/%s/" % (g.domain(), g.word()), "StartWith")
        if q < 95:
            return ("Url", "/%s.php" % g.word(), "EndWith")
        return ("Url", "/%s/" % g.word(), "Contains")
    q = layout(85)
    if q < 85:
        return ("FileName", g.file(), "Equals")
    if q < 90:
        return ("FileName", g.word() + "_", "StartWith")
    if q < 95:
        return ("FileName", "%s.%s" % (g.word(), r.choice(EXTS)), "EndWith")
    return ("FileName", "_" + g.word() + "_", "Contains")


def matching_value(g, t, v, f):
    """A value an event may carry that this IOC matches, or None."""
    if t in ("Sha256", "Sha1", "Md5"):
        return v.lower()
    if t == "IpAddress":
        if "/" in v:
            base = v.split("/")[0]
            return base[:-1] + "1" if base.endswith("0") and ":" not in base else None
        return v
    if t == "DomainName":
        d = v.rstrip(".").lower()
        return {"Equals": d, "EndWith": "cdn." + d, "StartWith": d + "example.com",
                "Contains": "a" + d + "b.example"}[f]
    if t == "Url":
        return {"Equals": v, "StartWith": v + "x.php", "EndWith": "https://h.example/p" + v,
                "Contains": "https://h.example/a" + v + "b"}.get(f)
    if t == "FileName":
        return {"Equals": v, "StartWith": v + "x.exe", "EndWith": "x" + v, "Contains": "a" + v + "b.exe"}.get(f)
    return None


FIELD_FOR = {"Sha256": "SHA256", "Sha1": "SHA1", "Md5": "MD5", "IpAddress": "RemoteIP",
             "DomainName": "DnsQuery", "Url": "RemoteUrl", "FileName": "FileName"}


def event(g, i, devices, hits):
    r = g.r
    dev_id, dev_name = devices[r.randrange(len(devices))]
    ts = "2026-11-22T%02d:%02d:%02d.%03dZ" % (i // 3600000 % 24, i // 60000 % 60, i // 1000 % 60, i % 1000)
    p = r.random()
    e = {"Timestamp": ts, "DeviceId": dev_id, "DeviceName": dev_name}
    if p < 0.40:
        proc = r.choice(PROCS)
        e.update({"ActionType": "ConnectionSuccess", "RemoteIP": g.ipv4(), "RemotePort": r.choice([80, 443, 8080, 445]),
                  "RemoteUrl": g.url(), "LocalPort": r.randint(49152, 65535),
                  "InitiatingProcessFileName": proc.rsplit("\\", 1)[-1], "InitiatingProcessSHA1": g.hex(40)})
    elif p < 0.65:
        name = g.file()
        e.update({"ActionType": "FileCreated", "FileName": name,
                  "FolderPath": "C:\\Users\\user%d\\AppData\\Local\\Temp\\%s" % (r.randrange(100), name),
                  "SHA1": g.hex(40), "SHA256": g.hex(64), "InitiatingProcessFileName": "chrome.exe"})
    elif p < 0.85:
        e.update({"ActionType": "DnsQueryResponse", "DnsQuery": g.domain(), "RemoteIP": "10.0.0.53", "RemotePort": 53,
                  "InitiatingProcessFileName": "svchost.exe", "InitiatingProcessFolderPath": PROCS[0]})
    else:
        name = g.file()
        e.update({"ActionType": "ProcessCreated", "FileName": name, "FolderPath": "C:\\ProgramData\\%s\\%s" % (g.word(), name),
                  "SHA1": g.hex(40), "SHA256": g.hex(64), "MD5": g.hex(32), "InitiatingProcessFileName": "explorer.exe"})
    e["ReportId"] = i
    if hits and r.random() < hits["rate"]:
        field, value = hits["pick"]()
        e[field] = value
    return e


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--defs", type=int, default=10000)
    ap.add_argument("--iocs", type=int, default=1000000)
    ap.add_argument("--events", type=int, default=1000000)
    ap.add_argument("--non-equals-percent", type=float, default=5.0)
    ap.add_argument("--hit-permille", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    params = vars(a).copy()
    params.pop("out")
    params["version"] = 4
    stamp = os.path.join(a.out, "stamp.json")
    if os.path.exists(stamp):
        with open(stamp) as f:
            if json.load(f) == params:
                print("gen: %s is up to date" % a.out, file=sys.stderr)
                return
    g = Gen(a.seed)
    with open(os.path.join(a.out, "defs.ndjson"), "w") as f:
        for i in range(a.defs):
            f.write(json.dumps({
                "Name": "Feed %d" % i, "Severity": SEVERITIES[i % 4], "InternalDescription": "bench feed %d" % i,
                "Title": "Indicator of feed %d seen." % i, "UxDescription": "A value listed by bench feed %d was observed." % i,
                "RecommendedAction": "Isolate the device and investigate.", "Category": CATEGORIES[i % len(CATEGORIES)],
            }, separators=(",", ":")) + "\n")
    n_regex = max(2, a.iocs // 50000)
    scale = a.non_equals_percent / BASE_NON_EQUALS
    if not 0 <= scale <= 100 / 40:
        sys.exit("gen: --non-equals-percent must be between 0 and %.1f" % (BASE_NON_EQUALS * 100 / 40))
    iocs = []
    with open(os.path.join(a.out, "iocs.ndjson"), "w") as f:
        def write(t, v, fn):
            d = min(a.defs - 1, int(a.defs * g.r.random() ** 2))
            iocs.append((t, v, fn))
            f.write(json.dumps({"Type": t, "Value": v, "DetectionFunction": fn, "Def": d}, separators=(",", ":")) + "\n")
        for i in range(a.iocs - 2 * n_regex):
            write(*ioc(g, n_regex, scale))
        for i in range(n_regex):
            write("Url", r"^https?://[^/]+/gate%d\.php\?id=[0-9a-f]{16}$" % i, "Regex")
            write("FileName", r"\\temp\\%s[0-9]+\.exe$" % g.word(), "Regex")
    matchable = [(FIELD_FOR[t], m) for (t, v, fn) in iocs for m in [matching_value(g, t, v, fn)] if m is not None]
    hits = {"rate": a.hit_permille / 1000.0, "pick": lambda: matchable[g.r.randrange(len(matchable))]} if matchable else None
    devices = [("%040x" % g.r.getrandbits(160), "ws-%03d.contoso.local" % i) for i in range(500)]
    g.numbers = (1000, 100000)
    size = 0
    with open(os.path.join(a.out, "events.ndjson"), "w") as f:
        for i in range(a.events):
            line = json.dumps(event(g, i, devices, hits), separators=(",", ":")) + "\n"
            size += len(line)
            f.write(line)
    with open(stamp, "w") as f:
        json.dump(params, f)
    print("gen: %d definitions, %d IOCs, %d events (%.0f bytes/event) in %s"
          % (a.defs, a.iocs, a.events, size / max(1, a.events), a.out), file=sys.stderr)


if __name__ == "__main__":
    main()
