"""Response shapes (SPEC A.3, A.4): `odata.metadata=none|minimal|full`, the public service
document and $metadata, and the case-insensitive version segment."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import requests

from openti_compat import TIMEOUT, definition, ioc

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


def annotations(obj: dict) -> set[str]:
    return {k for k in obj if k.startswith("@odata.")}


def test_none_strips_annotations(api):
    key = api.create("AlertDefinitions", definition("No metadata"))["Id"]
    api.create("IndicatorsOfCompromise", ioc(key, "Sha1", "e" * 40))
    accept = {"Accept": "application/json;odata.metadata=none"}

    single = api.get(f"AlertDefinitions({key})", headers=accept)
    assert single.status_code == 200
    assert "odata.metadata=none" in single.headers["Content-Type"]
    assert annotations(single.json()) == set(), single.json()
    assert single.json()["Id"] == key

    listing = api.get("AlertDefinitions?$count=true", headers=accept).json()
    # Only the count (and a next link) survive odata.metadata=none (OData JSON §3.1.3).
    assert annotations(listing) <= {"@odata.count", "@odata.nextLink"}, listing.keys()
    assert listing["@odata.count"] == 1
    assert all(annotations(row) == set() for row in listing["value"])

    created = api.post("IndicatorsOfCompromise", json=ioc(key, "Md5", "f" * 32), headers=accept)
    assert created.status_code == 201
    assert annotations(created.json()) == set() and created.json()["Value"] == "f" * 32


def test_minimal_is_the_default(api):
    key = api.create("AlertDefinitions", definition("Minimal"))["Id"]
    for headers in ({}, {"Accept": "application/json"}, {"Accept": "application/json;odata.metadata=minimal"}):
        body = api.get(f"AlertDefinitions({key})", headers=headers).json()
        assert body["@odata.context"] == api.url("$metadata#AlertDefinitions/$entity"), headers
        assert "@odata.id" not in body and "@odata.type" not in body
        listing = api.get("AlertDefinitions", headers=headers).json()
        assert listing["@odata.context"] == api.url("$metadata#AlertDefinitions")
        assert all("@odata.id" not in row for row in listing["value"])


def test_full_adds_id_and_type(api):
    key = api.create("AlertDefinitions", definition("Full metadata"))["Id"]
    ioc_key = api.create("IndicatorsOfCompromise", ioc(key, "IpAddress", "192.0.2.99"))["Id"]
    accept = {"Accept": "application/json;odata.metadata=full"}

    single = api.get(f"AlertDefinitions({key})", headers=accept).json()
    assert single["@odata.id"] == api.url(f"AlertDefinitions({key})")
    assert single["@odata.type"] == "#OpenTI.AlertDefinition"
    assert single["@odata.context"] == api.url("$metadata#AlertDefinitions/$entity")

    rows = api.get("IndicatorsOfCompromise", headers=accept).json()["value"]
    assert [(r["@odata.id"], r["@odata.type"]) for r in rows] == [
        (api.url(f"IndicatorsOfCompromise({ioc_key})"), "#OpenTI.IndicatorOfCompromise")
    ]
    # The @odata.id is a URL a client can follow.
    followed = api.get(rows[0]["@odata.id"])
    assert followed.status_code == 200 and followed.json()["Id"] == ioc_key


def test_version_segment_is_case_insensitive(server, api):
    key = api.create("AlertDefinitions", definition("Any case"))["Id"]
    base = api.base
    assert base.endswith("/V1.0/")
    for version in ("V1.0", "v1.0"):
        url = base[: -len("V1.0/")] + version + "/"
        listing = api.get(url + "AlertDefinitions")
        assert listing.status_code == 200, (version, listing.text)
        assert [d["Id"] for d in listing.json()["value"]] == [key]
        assert api.get(url + f"AlertDefinitions({key})").json()["Id"] == key
        assert api.post(url + "IndicatorsOfCompromise", json=ioc(key, "FileName", f"{version}.exe")).status_code == 201
    assert len(api.values(f"AlertDefinitions({key})/IndicatorsOfCompromise")) == 2
    assert api.get(server.url + "/V2.0/AlertDefinitions").status_code == 404


def test_service_document_and_metadata_are_public(server):
    # Generic OData clients read both before they authenticate.
    service = requests.get(server.api_url(), timeout=TIMEOUT)
    assert service.status_code == 200
    sets = {s["name"]: s["url"] for s in service.json()["value"]}
    assert sets["AlertDefinitions"] == "AlertDefinitions"
    assert sets["IndicatorsOfCompromise"] == "IndicatorsOfCompromise"

    metadata = requests.get(server.url + "/v1.0/$metadata", timeout=TIMEOUT)
    assert metadata.status_code == 200
    assert metadata.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(metadata.content)
    types = {t.get("Name"): t for t in root.iter(EDM + "EntityType")}
    definition_props = {p.get("Name") for p in types["AlertDefinition"].iter(EDM + "Property")}
    assert {"Id", "Name", "Severity", "Title", "UxDescription", "Category", "Enabled"} <= definition_props
    ioc_props = {p.get("Name") for p in types["IndicatorOfCompromise"].iter(EDM + "Property")}
    assert {"Id", "Type", "Value", "DetectionFunction", "Enabled", "ExpiresAt"} <= ioc_props
    members = {e.get("Name"): [m.get("Name") for m in e.iter(EDM + "Member")] for e in root.iter(EDM + "EnumType")}
    assert members["IocType"] == ["Sha1", "Sha256", "Md5", "IpAddress", "DomainName", "Url", "FileName"]
    assert members["DetectionFunction"][:4] == ["Equals", "StartWith", "EndWith", "Contains"]
    actions = {(a.get("Name"), a.find(EDM + "Parameter").get("Type")) for a in root.iter(EDM + "Action")}
    assert ("BulkUpload", "Collection(OpenTI.AlertDefinition)") in actions
    assert ("BulkUpload", "Collection(OpenTI.IndicatorOfCompromise)") in actions
    assert ("DeleteIOCs", "OpenTI.AlertDefinition") in actions

    # The data behind them is not public.
    assert requests.get(server.api_url("AlertDefinitions"), timeout=TIMEOUT).status_code == 401
