"""Bulk upload (SPEC A.6): `POST {set}/Actions.BulkUpload` with the wrapper names clients
used, 200 with the created entities in request order, atomic on a bad entity."""

from __future__ import annotations

import pytest

from openti_compat import definition, ioc, odata_error


def test_bulk_upload_definitions_in_request_order(api):
    bodies = [definition(f"Bulk definition {n}", Severity=s) for n, s in enumerate(["Informational", "Low", "Medium", "High"])]
    response = api.post("AlertDefinitions/Actions.BulkUpload", json={"alertDefinitions": bodies})
    assert response.status_code == 200, response.text
    created = response.json()["value"]
    assert [d["Title"] for d in created] == [b["Title"] for b in bodies]
    assert [d["Severity"] for d in created] == ["Informational", "Low", "Medium", "High"]
    ids = [d["Id"] for d in created]
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == len(ids)

    stored = {d["Id"]: d for d in api.values("AlertDefinitions")}
    assert sorted(stored) == sorted(ids)
    for entity in created:
        assert stored[entity["Id"]]["Title"] == entity["Title"]


@pytest.mark.parametrize("wrapper", ["iocs", "IOCs", "Iocs"])
def test_bulk_upload_iocs_with_wrapper_names(api, wrapper):
    key = api.create("AlertDefinitions", definition(f"Wrapper {wrapper}"))["Id"]
    bodies = [
        ioc(key, "Sha256", "a" * 64),
        ioc(key, "IpAddress", "203.0.113.0/25"),
        ioc(key, "DomainName", "Bulk.Example.com", "EndWith"),
        ioc(key, "Url", "http://bulk.example.com/x"),
        ioc(key, "Md5", "b" * 32),
    ]
    response = api.post("IndicatorsOfCompromise/Actions.BulkUpload", json={wrapper: bodies})
    assert response.status_code == 200, response.text
    created = response.json()["value"]
    assert [(i["Type"], i["Value"]) for i in created] == [
        ("Sha256", "a" * 64),
        ("IpAddress", "203.0.113.0/25"),
        ("DomainName", "bulk.example.com"),
        ("Url", "http://bulk.example.com/x"),
        ("Md5", "b" * 32),
    ]
    assert all(i["AlertDefinitionId"] == key for i in created)
    listed = api.values(f"AlertDefinitions({key})/IndicatorsOfCompromise")
    assert sorted(i["Id"] for i in listed) == sorted(i["Id"] for i in created)


@pytest.mark.parametrize("wrapper", ["AlertDefinitions", "alertdefinition"])
def test_bulk_upload_definitions_with_other_wrapper_names(api, wrapper):
    response = api.post("AlertDefinitions/Actions.BulkUpload", json={wrapper: [definition("A"), definition("B")]})
    assert response.status_code == 200, response.text
    assert [d["Title"] for d in response.json()["value"]] == ["A", "B"]


def test_bulk_iocs_across_definitions_with_absolute_binds(api):
    first = api.create("AlertDefinitions", definition("First"))["Id"]
    second = api.create("AlertDefinitions", definition("Second"))["Id"]
    bodies = [
        ioc(first, "FileName", "dropper.exe"),
        ioc(second, "FileName", "loader.dll", **{"AlertDefinition@odata.bind": api.url(f"AlertDefinitions({second})")}),
        ioc(first, "FileName", "stage2.bin"),
    ]
    created = api.post("IndicatorsOfCompromise/Actions.BulkUpload", json={"iocs": bodies})
    assert created.status_code == 200, created.text
    assert [i["AlertDefinitionId"] for i in created.json()["value"]] == [first, second, first]


def names_index_1(error: dict) -> bool:
    return "[1]" in (error.get("target") or "") or "index 1" in error["message"]


def test_bulk_upload_is_atomic_and_names_the_bad_index(api):
    key = api.create("AlertDefinitions", definition("Atomic"))["Id"]
    for bad in (ioc(key, "Sha1", "c" * 39), ioc(987654321, "Sha1", "c" * 40)):
        bodies = [ioc(key, "Sha1", "c" * 40), bad, ioc(key, "Sha1", "d" * 40)]
        error = odata_error(api.post("IndicatorsOfCompromise/Actions.BulkUpload", json={"iocs": bodies}), 400)
        assert names_index_1(error), error
        assert api.values("IndicatorsOfCompromise") == []

    bad_definition = definition("Broken", Severity="Catastrophic")
    response = api.post("AlertDefinitions/Actions.BulkUpload", json={"alertDefinitions": [definition("Fine"), bad_definition]})
    assert names_index_1(odata_error(response, 400))
    assert [d["Id"] for d in api.values("AlertDefinitions")] == [key]
