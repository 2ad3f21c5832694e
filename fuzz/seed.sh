#!/usr/bin/env bash
# Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/ (gitignored): small
# samples cut from the shared test data at run time, plus a few hand-written inputs, so
# nothing copied from the data is committed. Safe to run again (files are overwritten).
#
#   bash fuzz/seed.sh [DATA_DIR]      # default: $OPENTI_SHARED_DATA or ../../shared/data
set -euo pipefail
cd "$(dirname "$0")"
data=${1:-${OPENTI_SHARED_DATA:-$(cd .. && pwd)/../shared/data}}
corpus=corpus

mk() { mkdir -p "$corpus/$1"; }
# seed TARGET NAME < content
seed() { cat > "$corpus/$1/$2"; }
# cut TARGET FILE LINES: the first LINES lines of a data file, if the file is there.
cut_head() {
  local target=$1 file=$2 lines=$3
  [ -f "$file" ] || return 0
  head -n "$lines" "$file" > "$corpus/$target/$(basename "$(dirname "$file")")-$(basename "$file")"
}

for t in odata_query adapter_native adapter_zeek adapter_suricata adapter_ecs adapter_sysmon adapter_evtx ioc_value request_body; do
  mk "$t"
done

# --- OData query strings
i=0
while IFS= read -r q; do
  i=$((i + 1))
  printf '%s' "$q" | seed odata_query "q$i"
done <<'QUERIES'
$filter=Type eq 'Sha256' and Value eq '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'
$filter=contains(Value,'evil') or startswith(tolower(Value),'http') and not Enabled&$top=10&$skip=5
$filter=IndicatorsOfCompromise/any(i: i/Type eq 'Sha256' and length(i/Value) gt 3)&$expand=IndicatorsOfCompromise($filter=Enabled eq true;$select=Id,Value;$orderby=Id desc;$top=2;$count=true)
$filter=Severity in ('High','Medium') and CreatedAt ge 2026-01-01T00:00:00Z&$orderby=Severity desc,Id&$count=true
$filter=Id add 1 mul 2 sub 3 div 4 mod 5 eq 7 and year(CreatedAt) eq 2026 and Severity has OpenTI.AlertSeverity'High'
$filter=AlertDefinition/Severity eq 'High' and ExpiresAt eq null&$select=Id,Type,Value&$expand=AlertDefinition
$filter=substring(Value,1,2) eq 'ab' and indexof(Value,'x') ne -1 and trim(concat(Value,' ')) eq Value&$top=1000
$filter=(Name eq 'it''s' or Title eq '%27%20OR%201=1--') and InternalDescription ne null&$skiptoken=eyJrIjpbMV19
$filter=hour(LastModifiedAt) lt 12 and date(CreatedAt) eq 2026-11-22 and Id eq 9223372036854775807&$count=true&$search=x
QUERIES

# --- native events (SPEC B.2)
seed adapter_native network <<'EOF2'
{"Timestamp":"2026-11-22T10:00:00Z","DeviceId":"7f1c9a0b","DeviceName":"ws-01.contoso.local","ActionType":"ConnectionSuccess","RemoteIP":"52.184.197.12","RemotePort":80,"RemoteUrl":"http://52.184.197.12/","InitiatingProcessFileName":"powershell.exe","InitiatingProcessSHA1":"6cbce4a295c163791b60fc23d285e6d84f28ee4c"}
{"Timestamp":"2026-11-22T10:00:01.5+01:00","DeviceName":"ws-02","ActionType":"DnsQueryResponse","DnsQuery":"GACYFEW.COM.","RemoteIP":"[fd77:48a1:c0bb::1]:53"}
EOF2
# A UTF-8 BOM before a JSON array (a crash of the harness's line accounting, 2026-12-04).
printf '\xef\xbb\xbf[{"Timestamp":"2026-11-22T10:00:00Z","DeviceName":"ws-01"}, {"DeviceId":"x"}, 3]\n\x02' | seed adapter_native bom-array
seed adapter_native file <<'EOF2'
{"Timestamp":"2026-11-22T10:00:00Z","DeviceId":"d1","ActionType":"FileCreated","FileName":"payload.dll","FolderPath":"C:\\Users\\alice\\AppData\\Local\\Temp\\payload.dll","SHA1":"A94A8FE5CCB19BA61C4C0873D391E987982FBBD3","SHA256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","MD5":"098f6bcd4621d373cade4e832627b4f6","InitiatingProcessFileName":"C:\\Windows\\System32\\WINWORD.EXE","InitiatingProcessMD5":"098F6BCD4621D373CADE4E832627B4F6","ReportId":7}
EOF2
seed adapter_native array <<'EOF2'
[{"Timestamp":"2026-11-22T10:00:00Z","DeviceName":"ws-01","RemoteUrl":"https://a.evil.com:443/login.php?id=1","Extra":{"nested":[1,2,{"x":null}]}},
 {"Timestamp":"bad","DeviceName":"ws-01"}, {"DeviceId":"no-timestamp"}, 3]
EOF2

# --- Zeek: TSV with its header, and JSON lines
for f in "$data"/network/zeek/*/*.log; do cut_head adapter_zeek "$f" 24; done
# --- Suricata EVE
cut_head adapter_suricata "$data/network/suricata/slips-test6-malicious/test6-malicious.suricata.json" 40
if [ -f "$data/network/suricata/slips-test6-malicious/test6-malicious.suricata.json" ]; then
  for kind in dns http tls fileinfo flow alert; do
    grep -m 3 "\"event_type\":\"$kind\"" "$data/network/suricata/slips-test6-malicious/test6-malicious.suricata.json" \
      > "$corpus/adapter_suricata/$kind.json" || true
  done
fi
seed adapter_suricata dns-v2 <<'EOF2'
{"timestamp":"2021-06-06T16:26:27.431769+0200","flow_id":1,"event_type":"dns","src_ip":"10.0.0.5","dest_ip":"8.8.8.8","dns":{"version":2,"type":"answer","rrname":"evil.com","answers":[{"rrname":"evil.com","rrtype":"A","rdata":"1.2.3.4"}]}}
{"timestamp":"2021-06-06T16:26:27.431769+0200","event_type":"tls","src_ip":"10.0.0.5","dest_ip":"1.2.3.4","tls":{"sni":"www.evil.com","version":"TLS 1.2"}}
{"timestamp":"2021-06-06T16:26:27.431769+0200","event_type":"fileinfo","fileinfo":{"filename":"/x/payload.exe","md5":"098f6bcd4621d373cade4e832627b4f6","sha1":"a94a8fe5ccb19ba61c4c0873d391e987982fbbd3","sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},"http":{"hostname":"evil.com","url":"/login.php"}}
EOF2
# --- ECS (Winlogbeat / Elastic Agent shapes)
seed adapter_ecs process <<'EOF2'
{"@timestamp":"2024-01-01T00:00:00.000Z","ecs":{"version":"8.0.0"},"host":{"name":"ws-01","id":"h1"},"event":{"action":"Process Create","code":1},"process":{"executable":"C:\\Windows\\System32\\cmd.exe","name":"cmd.exe","hash":{"sha1":"6CBCE4A295C163791B60FC23D285E6D84F28EE4C","sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","md5":"098f6bcd4621d373cade4e832627b4f6"},"parent":{"executable":"C:\\Windows\\explorer.exe"}}}
{"@timestamp":"2024-01-01T00:00:01Z","host.name":"ws-02","event.action":"dns-query","dns.question.name":"gacyfew.com","destination.ip":"8.8.8.8","url.full":"http://a.b/c?d","file.hash.sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","file.path":"/tmp/x.sh"}
{"@timestamp":"2024-01-01T00:00:02Z","agent":{"type":"winlogbeat"},"host":{"hostname":"ws-03"},"destination":{"ip":"::ffff:52.184.197.12","domain":"evil.com"},"url":{"original":"https://evil.com/a","domain":"evil.com"},"file":{"name":"x.dll","hash":{"md5":"098f6bcd4621d373cade4e832627b4f6"}},"dll":{"path":"C:\\x.dll"}}
EOF2
# --- Sysmon rendered as JSON (evtx_dump shape and the flat OTRF shape)
for f in "$data"/endpoint/telemetry/sysmon-json/*/*.ndjson "$data"/endpoint/telemetry/otrf/*.json; do
  if [ -f "$f" ]; then cut_head adapter_sysmon "$f" 12; fi
done
# --- EVTX: the small files (one 64 KiB chunk each) whole
for f in "$data"/endpoint/telemetry/evtx/*/*.evtx; do
  if [ -f "$f" ] && [ "$(stat -c %s "$f")" -le 131072 ]; then cp "$f" "$corpus/adapter_evtx/$(basename "$f")"; fi
done
printf 'ElfFile\0' | seed adapter_evtx magic-only

# --- IOC values: one per file, from the IOC lists and intel
{
  if [ -f "$data/endpoint/iocs/loldrivers.csv" ]; then
    sed -n '2,21p' "$data/endpoint/iocs/loldrivers.csv" | tr ',' '\n' | head -n 80 || true
  fi
  for f in signature-base-c2-iocs.txt signature-base-filename-iocs.txt signature-base-hash-iocs.txt; do
    [ -f "$data/endpoint/iocs/$f" ] || continue
    grep -v '^#' "$data/endpoint/iocs/$f" | grep -v '^$' | head -n 25 | cut -d';' -f1 || true
  done
  for f in "$data"/intel/maltrail/*.txt; do
    [ -f "$f" ] || continue
    grep -v '^#' "$f" | grep -v '^$' | head -n 5 || true
  done
  cat <<'VALUES'
52.184.197.12
::ffff:10.1.2.3/104
2001:DB8::1/32
[2001:db8::1]
10.1.2.3/8
EVIL.COM.
xn--bcher-kva.example
bücher.example
http://EXAMPLE.com:80/a/../b?q=1#f
hxxp://evil[.]com/x
^https?://[^/]+/gate[0-9]\.php$
\\temp\\[a-z]+\.exe$
(a+)+$
VALUES
} | awk -v d="$corpus/ioc_value" 'NF { print > (d "/v" NR) }'

# --- request bodies
seed request_body definition <<'EOF2'
{"Name":"Test","Severity":"Medium","InternalDescription":"x","Title":"Test alert.","UxDescription":"desc","RecommendedAction":null,"Category":"SuspiciousNetworkTraffic","Enabled":"true"}
EOF2
seed request_body ioc <<'EOF2'
{"Type":"IpAddress","Value":"52.184.197.12","DetectionFunction":"Equals","Enabled":true,"ExpiresAt":"2027-01-01T00:00:00Z","AlertDefinition@odata.bind":"AlertDefinitions(1)"}
EOF2
seed request_body ioc-powershell <<'EOF2'
{
    "Value":  "\u0027evil\u0027.com",
    "Type":  "domainname",
    "AlertDefinitions@odata.bind":  "https://host/api/V1.0/AlertDefinitions(5)",
    "DetectionFunction":  "EndsWith",
    "Enabled":  "TRUE"
}
EOF2
seed request_body bulk-iocs <<'EOF2'
{"IOCs":[{"Type":"Sha1","Value":"6CBCE4A295C163791B60FC23D285E6D84F28EE4C","AlertDefinition@odata.bind":"AlertDefinition(1)"},{"Type":"Url","Value":"^http://x$","DetectionFunction":"Regex","AlertDefinition@odata.bind":"AlertDefinitions(2)"},{"Type":"FileName","Value":"C:\\x\\mimikatz.exe"}]}
EOF2
seed request_body bulk-defs <<'EOF2'
{"@odata.type":"x","alertdefinition":[{"Name":"a","Severity":"high","Title":"t","ShortUxDescription":"s","UxDescription":"u","Category":"trojan"},{"Name":""}]}
EOF2
seed request_body alert-patch <<'EOF2'
{"Status":"InProgress","Classification":null,"AssignedTo":"analyst@contoso.com","Id":5}
EOF2

echo "seed corpora in $(pwd)/$corpus:"
for d in "$corpus"/*/; do printf '  %-18s %4d files\n' "$(basename "$d")" "$(ls "$d" | wc -l)"; done
