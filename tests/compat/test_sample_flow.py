"""The classic Python sample of the custom TI API v1.0 and what its users did next
(SPEC A.3–A.5, A.8): list, create, read, update, bind IOCs, navigate, re-bind, delete.
Every test works in a fresh tenant, so lists start empty."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
import requests

from openti_compat import TIMEOUT, definition, ioc, odata_error

SHA1 = "dbb2dbc1e1a8d1d8bc2e7d7c1cf7a2f3a44f3d6a"


def test_published_sample_verbatim(tenant):
    """The sample as published: a session whose headers are replaced by the bearer token,
    `json=` bodies, `json.loads(response.text)["Id"]`."""
    api_base = tenant.api.base
    with requests.Session() as session:
        session.headers = {"Authorization": "Bearer {}".format(tenant.api.token)}

        response = session.get(api_base + "AlertDefinitions", timeout=TIMEOUT)
        assert response.status_code == 200
        assert json.loads(response.text)["value"] == []

        alert_definition = {
            "Name": "The Alert's Name",
            "Severity": "Low",
            "InternalDescription": "An internal description of the Alert",
            "Title": "The Title",
            "UxDescription": "Description of the alerts",
            "RecommendedAction": "The alert's recommended action",
            "Category": "Trojan",
            "Enabled": True,
        }
        response = session.post(api_base + "AlertDefinitions", json=alert_definition, timeout=TIMEOUT)
        assert response.status_code == 201, response.text
        alert_definition_id = json.loads(response.text)["Id"]
        assert isinstance(alert_definition_id, int)

        ioc_body = {
            "Type": "Sha1",
            "Value": SHA1,
            "DetectionFunction": "Equals",
            "Enabled": True,
            "AlertDefinition@odata.bind": "AlertDefinitions({0})".format(alert_definition_id),
        }
        response = session.post(api_base + "IndicatorsOfCompromise", json=ioc_body, timeout=TIMEOUT)
        assert response.status_code == 201, response.text
        created = json.loads(response.text)
        assert isinstance(created["Id"], int)
        assert created["Value"] == SHA1
        assert created["AlertDefinitionId"] == alert_definition_id

        listed = session.get(api_base + "IndicatorsOfCompromise", timeout=TIMEOUT).json()["value"]
        assert [i["Id"] for i in listed] == [created["Id"]]


def test_create_get_patch_definition(api):
    response = api.post("AlertDefinitions", json=definition("Contacted a sinkhole"))
    assert response.status_code == 201, response.text
    created = response.json()
    key = created["Id"]
    assert response.headers["Location"] == api.url(f"AlertDefinitions({key})")
    assert created["Severity"] == "Low" and created["Category"] == "Trojan" and created["Enabled"] is True
    assert created["CreatedAt"].endswith("Z") and created["CreatedBy"]
    assert created["LastModifiedAt"] is None

    got = api.get(f"AlertDefinitions({key})")
    assert got.status_code == 200
    body = got.json()
    assert "value" not in body  # the entity itself, not a collection
    for name in ("Name", "Title", "UxDescription", "InternalDescription", "RecommendedAction", "Severity", "Category"):
        assert body[name] == created[name], name
    # The Location header is a URL the client can GET.
    assert requests.get(response.headers["Location"], headers={"Authorization": f"Bearer {api.token}"}, timeout=TIMEOUT).json()["Id"] == key

    patched = api.patch(f"AlertDefinitions({key})", json={"Severity": "High", "Enabled": False})
    assert patched.status_code == 200, patched.text
    assert patched.json()["Severity"] == "High" and patched.json()["Enabled"] is False
    again = api.get(f"AlertDefinitions({key})").json()
    assert again["Severity"] == "High" and again["Enabled"] is False
    assert again["Title"] == "Contacted a sinkhole"  # a PATCH keeps what it does not name
    assert again["LastModifiedAt"] is not None


# (Type, Value sent, DetectionFunction, Value stored)
IOC_CASES = [
    ("Sha1", SHA1.upper(), "Equals", SHA1),
    ("Sha256", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", "Equals",
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ("Md5", "D41D8CD98F00B204E9800998ECF8427E", "Equals", "d41d8cd98f00b204e9800998ecf8427e"),
    ("IpAddress", "192.0.2.10", "Equals", "192.0.2.10"),
    ("IpAddress", "198.51.100.0/24", "Equals", "198.51.100.0/24"),
    ("IpAddress", "2001:DB8::1", "Equals", "2001:db8::1"),
    ("IpAddress", "::ffff:203.0.113.9", "Equals", "203.0.113.9"),
    ("DomainName", "Evil.Example.COM.", "EndWith", "evil.example.com"),
    ("DomainName", "phish.example.net", "Equals", "phish.example.net"),
    ("Url", "HTTPS://Bad.Example.COM:443/payload?id=1", "StartWith", "https://bad.example.com/payload?id=1"),
    ("FileName", "mimikatz.exe", "Equals", "mimikatz.exe"),
]


def test_iocs_of_every_type_bound_relative_and_absolute(api):
    key = api.create("AlertDefinitions", definition("Every IOC type"))["Id"]
    created = []
    for index, (ioc_type, value, function, stored) in enumerate(IOC_CASES):
        body = ioc(key, ioc_type, value, function)
        if index % 2:
            # Later clients bound with the absolute URL of the definition.
            body["AlertDefinition@odata.bind"] = api.url(f"AlertDefinitions({key})")
        response = api.post("IndicatorsOfCompromise", json=body)
        assert response.status_code == 201, (ioc_type, value, response.text)
        entity = response.json()
        assert response.headers["Location"] == api.url(f"IndicatorsOfCompromise({entity['Id']})")
        assert (entity["Type"], entity["Value"], entity["DetectionFunction"]) == (ioc_type, stored, function)
        assert entity["AlertDefinitionId"] == key
        created.append(entity["Id"])

    listed = api.values(f"AlertDefinitions({key})/IndicatorsOfCompromise")
    assert sorted(i["Id"] for i in listed) == sorted(created)
    assert {i["Type"] for i in listed} == {"Sha1", "Sha256", "Md5", "IpAddress", "DomainName", "Url", "FileName"}


@pytest.mark.parametrize(
    "ioc_type,value,code",
    [("Sha1", "a" * 39, "InvalidHashValue"), ("Sha256", "g" * 64, "InvalidHashValue"), ("Md5", "abc", "InvalidHashValue"),
     ("IpAddress", "999.1.1.1", "InvalidIpAddress"), ("DomainName", "bad domain.com", "InvalidDomainName"),
     ("Url", "evil.example.com/no-scheme", "InvalidUrl")],
)
def test_invalid_ioc_values_are_400_naming_the_property(api, ioc_type, value, code):
    key = api.create("AlertDefinitions", definition("Invalid values"))["Id"]
    error = odata_error(api.post("IndicatorsOfCompromise", json=ioc(key, ioc_type, value)), 400)
    assert error["code"] == code, error
    assert error.get("target") == "Value", error
    assert api.values("IndicatorsOfCompromise") == []


def test_detection_function_not_allowed_for_the_type_is_400(api):
    key = api.create("AlertDefinitions", definition("Wrong function"))["Id"]
    error = odata_error(api.post("IndicatorsOfCompromise", json=ioc(key, "Sha1", SHA1, "Contains")), 400)
    assert error.get("target") == "DetectionFunction", error
    assert api.values("IndicatorsOfCompromise") == []


def test_navigation_both_ways(api):
    first = api.create("AlertDefinitions", definition("First"))["Id"]
    second = api.create("AlertDefinitions", definition("Second"))["Id"]
    a = api.create("IndicatorsOfCompromise", ioc(first, "Sha1", SHA1))["Id"]
    b = api.create("IndicatorsOfCompromise", ioc(first, "DomainName", "evil.example.com", "EndWith"))["Id"]
    c = api.create("IndicatorsOfCompromise", ioc(second, "IpAddress", "192.0.2.77"))["Id"]

    up = api.get(f"IndicatorsOfCompromise({b})/AlertDefinition")
    assert up.status_code == 200
    assert up.json()["Id"] == first and up.json()["Title"] == "First"

    assert sorted(i["Id"] for i in api.values(f"AlertDefinitions({first})/IndicatorsOfCompromise")) == sorted([a, b])
    assert [i["Id"] for i in api.values(f"AlertDefinitions({second})/IndicatorsOfCompromise")] == [c]


def test_rebind_with_ref_absolute_and_relative(api):
    first = api.create("AlertDefinitions", definition("Old home"))["Id"]
    second = api.create("AlertDefinitions", definition("New home"))["Id"]
    key = api.create("IndicatorsOfCompromise", ioc(first, "Md5", "d41d8cd98f00b204e9800998ecf8427e"))["Id"]

    response = api.put(f"IndicatorsOfCompromise({key})/AlertDefinition/$ref",
                       json={"@odata.id": api.url(f"AlertDefinitions({second})")})
    assert response.status_code == 204, response.text
    assert api.get(f"IndicatorsOfCompromise({key})/AlertDefinition").json()["Id"] == second
    assert api.get(f"IndicatorsOfCompromise({key})").json()["AlertDefinitionId"] == second
    assert api.values(f"AlertDefinitions({first})/IndicatorsOfCompromise") == []

    response = api.put(f"IndicatorsOfCompromise({key})/AlertDefinition/$ref", json={"@odata.id": f"AlertDefinitions({first})"})
    assert response.status_code == 204, response.text
    assert api.get(f"IndicatorsOfCompromise({key})/AlertDefinition").json()["Id"] == first
    assert [i["Id"] for i in api.values(f"AlertDefinitions({first})/IndicatorsOfCompromise")] == [key]

    # A reference to a definition that does not exist changes nothing.
    missing = api.put(f"IndicatorsOfCompromise({key})/AlertDefinition/$ref", json={"@odata.id": "AlertDefinitions(987654321)"})
    assert 400 <= missing.status_code < 500 and "error" in missing.json()
    assert api.get(f"IndicatorsOfCompromise({key})").json()["AlertDefinitionId"] == first


def test_delete_iocs_action_keeps_the_definition(api):
    key = api.create("AlertDefinitions", definition("Clean me"))["Id"]
    other = api.create("AlertDefinitions", definition("Leave me"))["Id"]
    for value in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        api.create("IndicatorsOfCompromise", ioc(key, "IpAddress", value))
    kept = api.create("IndicatorsOfCompromise", ioc(other, "IpAddress", "192.0.2.4"))["Id"]

    response = api.post(f"AlertDefinitions({key})/Actions.DeleteIOCs")
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert api.values(f"AlertDefinitions({key})/IndicatorsOfCompromise") == []
    assert api.get(f"AlertDefinitions({key})").status_code == 200
    assert [i["Id"] for i in api.values("IndicatorsOfCompromise")] == [kept]


def test_delete_one_and_cascade(api):
    keep = api.create("AlertDefinitions", definition("Keep"))["Id"]
    drop = api.create("AlertDefinitions", definition("Drop"))["Id"]
    kept_ioc = api.create("IndicatorsOfCompromise", ioc(keep, "Sha1", SHA1))["Id"]
    doomed_ioc = api.create("IndicatorsOfCompromise", ioc(drop, "Sha1", SHA1))["Id"]
    lone_ioc = api.create("IndicatorsOfCompromise", ioc(keep, "FileName", "evil.exe"))["Id"]

    assert api.delete(f"IndicatorsOfCompromise({lone_ioc})").status_code == 204
    odata_error(api.get(f"IndicatorsOfCompromise({lone_ioc})"), 404)

    response = api.delete(f"AlertDefinitions({drop})")
    assert response.status_code == 204 and response.content == b""
    odata_error(api.get(f"AlertDefinitions({drop})"), 404)
    # Deleting a definition deletes its IOCs, and only its own.
    odata_error(api.get(f"IndicatorsOfCompromise({doomed_ioc})"), 404)
    assert [i["Id"] for i in api.values("IndicatorsOfCompromise")] == [kept_ioc]
    assert [d["Id"] for d in api.values("AlertDefinitions")] == [keep]


def test_delete_all_on_both_sets(api):
    keys = [api.create("AlertDefinitions", definition(f"Bulk {n}"))["Id"] for n in range(3)]
    for key in keys:
        api.create("IndicatorsOfCompromise", ioc(key, "DomainName", f"d{key}.example.org"))

    response = api.delete("IndicatorsOfCompromise")
    assert response.status_code == 204, response.text
    assert api.values("IndicatorsOfCompromise") == []
    assert len(api.values("AlertDefinitions")) == 3

    api.create("IndicatorsOfCompromise", ioc(keys[0], "Sha1", SHA1))
    response = api.delete("AlertDefinitions")
    assert response.status_code == 204, response.text
    assert api.values("AlertDefinitions") == []
    assert api.values("IndicatorsOfCompromise") == []


def test_delete_all_touches_only_the_callers_tenant(server, api):
    mine = api.create("AlertDefinitions", definition("Mine"))["Id"]
    other = server.new_tenant("other").api
    theirs = other.create("AlertDefinitions", definition("Theirs"))["Id"]

    assert other.get(f"AlertDefinitions({mine})").status_code == 404  # never 403: no enumeration
    assert other.delete(f"AlertDefinitions({mine})").status_code == 404
    assert other.delete("AlertDefinitions").status_code == 204
    assert [d["Id"] for d in api.values("AlertDefinitions")] == [mine]
    assert api.get(f"AlertDefinitions({theirs})").status_code == 404


def test_unknown_keys_are_404(api):
    key = api.create("AlertDefinitions", definition("Exists"))["Id"]
    missing = 987654321
    for method, path, body in [
        ("GET", f"AlertDefinitions({missing})", None),
        ("GET", f"IndicatorsOfCompromise({missing})", None),
        ("PATCH", f"AlertDefinitions({missing})", {"Severity": "High"}),
        ("PATCH", f"IndicatorsOfCompromise({missing})", {"Enabled": False}),
        ("DELETE", f"AlertDefinitions({missing})", None),
        ("DELETE", f"IndicatorsOfCompromise({missing})", None),
        ("GET", f"AlertDefinitions({missing})/IndicatorsOfCompromise", None),
        ("GET", f"IndicatorsOfCompromise({missing})/AlertDefinition", None),
        ("POST", f"AlertDefinitions({missing})/Actions.DeleteIOCs", None),
        ("PUT", f"IndicatorsOfCompromise({missing})/AlertDefinition/$ref", {"@odata.id": f"AlertDefinitions({key})"}),
    ]:
        response = api.request(method, path, json=body)
        error = odata_error(response, 404)
        assert error["code"] == "NotFound", (method, path, error)
    # A create bound to a definition that does not exist stores nothing.
    assert api.post("IndicatorsOfCompromise", json=ioc(missing, "Sha1", SHA1)).status_code in (400, 404)
    assert api.values("IndicatorsOfCompromise") == []


def test_filter_top_skip_count(api):
    low = api.create("AlertDefinitions", definition("Alpha", Severity="Low"))["Id"]
    high = api.create("AlertDefinitions", definition("Bravo", Severity="High"))["Id"]
    off = api.create("AlertDefinitions", definition("Charlie", Severity="High", Enabled=False))["Id"]

    def ids(query: str) -> list[int]:
        return [d["Id"] for d in api.values("AlertDefinitions?" + query)]

    def f(expression: str) -> str:
        return "$filter=" + quote(expression, safe="")

    assert ids(f("Title eq 'Bravo'")) == [high]
    assert ids(f("Severity eq 'High'") + "&$orderby=Id") == [high, off]
    assert ids(f("Severity eq OpenTI.AlertSeverity'High' and Enabled eq false")) == [off]
    assert ids(f("Severity ne 'High'")) == [low]
    assert ids(f("Severity eq 'High' and Title ne 'Bravo'")) == [off]
    assert ids(f(f"Id eq {low} or Id eq {off}") + "&$orderby=Id") == [low, off]
    assert ids(f("Title eq 'Nobody'")) == []

    assert ids("$orderby=Id&$top=2") == [low, high]
    assert ids("$orderby=Id&$skip=1") == [high, off]
    assert ids("$orderby=Id&$skip=1&$top=1") == [high]

    counted = api.get("AlertDefinitions?$count=true&$top=1&$orderby=Id")
    assert counted.status_code == 200
    assert counted.json()["@odata.count"] == 3
    assert [d["Id"] for d in counted.json()["value"]] == [low]
    filtered = api.get("AlertDefinitions?$count=true&" + f("Severity eq 'High'")).json()
    assert filtered["@odata.count"] == 2

    for bad in ("NoSuchProperty eq 1", "Title eq", "Severity eq 'Catastrophic'"):
        odata_error(api.get("AlertDefinitions?" + f(bad)), 400)


def test_filter_iocs_by_type_and_definition(api):
    one = api.create("AlertDefinitions", definition("One"))["Id"]
    two = api.create("AlertDefinitions", definition("Two"))["Id"]
    sha = api.create("IndicatorsOfCompromise", ioc(one, "Sha1", SHA1))["Id"]
    ip = api.create("IndicatorsOfCompromise", ioc(one, "IpAddress", "192.0.2.5"))["Id"]
    other = api.create("IndicatorsOfCompromise", ioc(two, "IpAddress", "192.0.2.6"))["Id"]

    def ids(expression: str) -> list[int]:
        return sorted(i["Id"] for i in api.values("IndicatorsOfCompromise?$filter=" + quote(expression, safe="")))

    assert ids("Type eq 'IpAddress'") == sorted([ip, other])
    assert ids(f"Type eq 'IpAddress' and AlertDefinitionId eq {one}") == [ip]
    assert ids("Type ne 'IpAddress'") == [sha]
    assert ids("Value eq '192.0.2.6'") == [other]
    # Navigation lists take query options too.
    assert [i["Id"] for i in api.values(f"AlertDefinitions({one})/IndicatorsOfCompromise?$orderby=Id desc&$top=1")] == [max(sha, ip)]


def test_server_driven_paging_at_1000(api):
    key = api.create("AlertDefinitions", definition("Large feed"))["Id"]
    bodies = [ioc(key, "IpAddress", f"10.20.{n // 250}.{n % 250}") for n in range(1001)]
    response = api.post("IndicatorsOfCompromise/Actions.BulkUpload", json={"iocs": bodies})
    assert response.status_code == 200, response.text
    created = [i["Id"] for i in response.json()["value"]]
    assert len(created) == 1001

    first = api.get("IndicatorsOfCompromise?$count=true").json()
    assert first["@odata.count"] == 1001
    assert len(first["value"]) == 1000
    # The next link is absolute and carries the query; the client only adds its token.
    second = api.get(first["@odata.nextLink"]).json()
    assert len(second["value"]) == 1 and "@odata.nextLink" not in second
    assert sorted(i["Id"] for i in first["value"] + second["value"]) == sorted(created)


def test_historical_spellings_of_older_clients(api):
    body = definition("ignored")
    del body["Title"]
    body["ShortUxDescription"] = "Old clients called the title ShortUxDescription"  # its name in early releases
    created = api.create("AlertDefinitions", body)
    assert created["Title"] == "Old clients called the title ShortUxDescription"
    assert "ShortUxDescription" not in created
    key = created["Id"]

    for n, annotation in enumerate(["AlertDefinitions@odata.bind", "IndicationOfAttack@odata.bind", "AlertDefinition@odata.bind"]):
        body = {"Type": "FileName", "Value": f"old{n}.exe", annotation: f"AlertDefinition({key})"}
        response = api.post("IndicatorsOfCompromise", json=body)
        assert response.status_code == 201, (annotation, response.text)
        assert response.json()["AlertDefinitionId"] == key
        # DetectionFunction and Enabled fall back to their $metadata defaults.
        assert response.json()["DetectionFunction"] == "Equals" and response.json()["Enabled"] is True
    for alias, canonical in (("StartsWith", "StartWith"), ("EndsWith", "EndWith")):
        response = api.post("IndicatorsOfCompromise", json=ioc(key, "DomainName", "alias.example", alias))
        assert response.status_code == 201, response.text
        assert response.json()["DetectionFunction"] == canonical
