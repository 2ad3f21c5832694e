"""Bodies as the published PowerShell sample sends them (SPEC A.3): a hashtable piped to
Windows PowerShell 5.1's ConvertTo-Json and posted with Invoke-RestMethod. The bytes are
built here the way PowerShell builds them and sent raw with `data=`."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

from openti_compat import definition

SHA1 = "dbb2dbc1e1a8d1d8bc2e7d7c1cf7a2f3a44f3d6a"
BOM = b"\xef\xbb\xbf"
# The escapes JavaScriptSerializer (behind Windows PowerShell 5.1's ConvertTo-Json) writes.
PS51_ESCAPES = {"'": "\\u0027", "<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


def ps51_string(text: str) -> str:
    escaped = json.dumps(text, ensure_ascii=False)
    for char, escape in PS51_ESCAPES.items():
        escaped = escaped.replace(char, escape)
    return escaped


def convert_to_json(value, indent: int = 0) -> str:
    """Windows PowerShell 5.1 `ConvertTo-Json`: CRLF, four-space indent, two spaces after
    the colon, and nested values indented from the column where they start."""
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            prefix = " " * (indent + 4) + ps51_string(key) + ":  "
            lines.append(prefix + convert_to_json(item, len(prefix)))
        return "{\r\n" + ",\r\n".join(lines) + "\r\n" + " " * indent + "}"
    if isinstance(value, list):
        items = [" " * (indent + 4) + convert_to_json(item, indent + 4) for item in value]
        return "[\r\n" + ",\r\n".join(items) + "\r\n" + " " * indent + "]"
    if isinstance(value, str):
        return ps51_string(value)
    return json.dumps(value)


def shuffled(pairs: dict, order: list[str]) -> dict:
    """A PowerShell hashtable enumerates in hash order, not in the order it was written."""
    assert sorted(order) == sorted(pairs)
    return {key: pairs[key] for key in order}


# $headers of the sample, then the variants Invoke-RestMethod users ended up with.
JSON = "application/json"
JSON_UTF8 = "application/json; charset=utf-8"
JSON_TRAILING = "application/json; charset=utf-8;"


def ps_post(api, path: str, body: bytes, content_type: str = JSON, method: str = "POST"):
    return api.request(method, path, data=body, headers={"Content-Type": content_type, "Accept": "application/json"})


def test_convert_to_json_emulation_is_what_windows_powershell_writes():
    # A fixed sample of Windows PowerShell 5.1 output, so the emulator cannot drift.
    assert convert_to_json({"a": "it's", "b": {"c": ["x"]}}) == (
        '{\r\n    "a":  "it\\u0027s",\r\n    "b":  {\r\n              "c":  [\r\n                        "x"\r\n'
        '                    ]\r\n          }\r\n}'
    )


def test_published_powershell_flow_all_strings(api):
    payload = {
        "Name": "PowerShell's <definition> & co",
        "Severity": "high",
        "InternalDescription": "Loaded from <Import-Csv> & friends",
        "Title": "Beacon to 'known' C2 <host> & port",
        "UxDescription": "The device <talked> to 'a' C2 & more. Café.",
        "RecommendedAction": "Don't panic: <isolate> & investigate",
        "Category": "suspiciousnetworktraffic",
        "Enabled": "true",
    }
    order = ["UxDescription", "Enabled", "Name", "Category", "RecommendedAction", "Title", "Severity", "InternalDescription"]
    text = convert_to_json(shuffled(payload, order))
    assert "\\u0027" in text and "\\u003c" in text and "\\u003e" in text and "\\u0026" in text and "\r\n    " in text

    response = ps_post(api, "AlertDefinitions", text.encode("utf-8"), JSON_UTF8)
    assert response.status_code == 201, response.text
    created = response.json()
    key = created["Id"]
    assert isinstance(key, int)  # $alertDefinition.Id

    stored = api.get(f"AlertDefinitions({key})").json()
    for name in ("Name", "InternalDescription", "Title", "UxDescription", "RecommendedAction"):
        assert stored[name] == payload[name], name  # escapes decoded to ' < > &, UTF-8 kept
    assert stored["Severity"] == "High"  # returned in the $metadata spelling
    assert stored["Category"] == "SuspiciousNetworkTraffic"
    assert stored["Enabled"] is True

    ioc_payload = {
        "Type": "sha1",
        "Value": SHA1.upper(),
        "DetectionFunction": "equals",
        "Enabled": "true",
        "AlertDefinition@odata.bind": f"AlertDefinitions({key})",
    }
    text = convert_to_json(shuffled(ioc_payload, ["AlertDefinition@odata.bind", "Enabled", "Value", "Type", "DetectionFunction"]))
    response = ps_post(api, "IndicatorsOfCompromise", text.encode("utf-8"), JSON_TRAILING)
    assert response.status_code == 201, response.text
    ioc = response.json()
    assert (ioc["Type"], ioc["Value"], ioc["DetectionFunction"], ioc["Enabled"]) == ("Sha1", SHA1, "Equals", True)
    assert ioc["AlertDefinitionId"] == key

    # (Invoke-RestMethod GET).value
    listed = api.get("IndicatorsOfCompromise", headers={"Accept": "application/json"}).json()["value"]
    assert [i["Id"] for i in listed] == [ioc["Id"]]


def test_patch_with_string_values(api):
    key = api.create("AlertDefinitions", definition("Patch me"))["Id"]
    text = convert_to_json({"Enabled": "False", "Severity": "INFORMATIONAL", "Title": "Patched <again> & 'again'"})
    response = ps_post(api, f"AlertDefinitions({key})", text.encode("utf-8"), JSON_UTF8, method="PATCH")
    assert response.status_code == 200, response.text
    stored = api.get(f"AlertDefinitions({key})").json()
    assert stored["Enabled"] is False
    assert stored["Severity"] == "Informational"
    assert stored["Title"] == "Patched <again> & 'again'"


def test_utf8_bom_and_content_type_variants(api):
    bodies = []
    for n, (content_type, bom) in enumerate([(JSON, False), (JSON_UTF8, True), (JSON_TRAILING, True), ("application/json;", False),
                                             ("Application/JSON; odata.metadata=minimal", False)]):
        title = f"Variant {n} <{content_type}> & 'bom'={bom}"
        text = convert_to_json(shuffled(
            {"Title": title, "Name": f"variant {n}", "Severity": "medium", "Category": "malware", "UxDescription": "ux", "Enabled": "TRUE"},
            ["Severity", "Title", "Enabled", "UxDescription", "Category", "Name"]))
        raw = (BOM if bom else b"") + text.encode("utf-8")
        response = ps_post(api, "AlertDefinitions", raw, content_type)
        assert response.status_code == 201, (content_type, bom, response.text)
        bodies.append((response.json()["Id"], title))
    for key, title in bodies:
        stored = api.get(f"AlertDefinitions({key})").json()
        assert stored["Title"] == title and stored["Severity"] == "Medium" and stored["Category"] == "Malware"


def test_length_limits_apply_to_the_decoded_text(api):
    # 100 characters is the most a Name may have; escaped, this one is 600 bytes long.
    name = "&" * 100
    text = convert_to_json({"Name": name, "Title": "t", "UxDescription": "u", "Severity": "low", "Category": "malware"})
    assert len(text) > 600
    response = ps_post(api, "AlertDefinitions", text.encode("utf-8"), JSON_UTF8)
    assert response.status_code == 201, response.text
    assert api.get(f"AlertDefinitions({response.json()['Id']})").json()["Name"] == name

    too_long = convert_to_json({"Name": name + "&", "Title": "t", "UxDescription": "u", "Severity": "low", "Category": "malware"})
    response = ps_post(api, "AlertDefinitions", too_long.encode("utf-8"), JSON_UTF8)
    assert response.status_code == 400, response.text


def test_bulk_upload_as_powershell_writes_it(api):
    key = api.create("AlertDefinitions", definition("PowerShell bulk"))["Id"]
    iocs = [
        {"Value": "198.51.100.23", "Type": "ipaddress", "Enabled": "true", "AlertDefinition@odata.bind": f"AlertDefinitions({key})"},
        {"Type": "DomainName", "DetectionFunction": "endwith", "AlertDefinition@odata.bind": f"AlertDefinitions({key})", "Value": "bad.example"},
    ]
    text = convert_to_json({"iocs": iocs})
    response = ps_post(api, "IndicatorsOfCompromise/Actions.BulkUpload", BOM + text.encode("utf-8"), JSON_UTF8)
    assert response.status_code == 200, response.text
    assert [(i["Type"], i["Value"], i["DetectionFunction"]) for i in response.json()["value"]] == [
        ("IpAddress", "198.51.100.23", "Equals"),
        ("DomainName", "bad.example", "EndWith"),
    ]


def test_not_json_content_type_is_415(api):
    text = convert_to_json({"Name": "n", "Title": "t", "UxDescription": "u", "Severity": "low", "Category": "malware"})
    response = ps_post(api, "AlertDefinitions", text.encode("utf-8"), "text/plain")
    assert response.status_code == 415, response.text
    assert api.values("AlertDefinitions") == []


def test_expect_100_continue_as_dotnet_framework_sends_it(api):
    """Windows PowerShell 5.1 runs on .NET Framework, whose HttpWebRequest sends
    `Expect: 100-continue` with every POST and waits for the interim response first."""
    text = convert_to_json({"Name": "expect", "Title": "Expect 100", "UxDescription": "u", "Severity": "low", "Category": "malware"})
    body = text.encode("utf-8")
    url = urlsplit(api.url("AlertDefinitions"))
    head = (
        f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {api.token}\r\n"
        f"Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head.encode("ascii"))
        interim = sock.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100"), interim
        sock.sendall(body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 201"), reply
    created = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert api.get(f"AlertDefinitions({created['Id']})").json()["Title"] == "Expect 100"
