"""A generic OData v4 client from PyPI, python-odata, against OpenTI: it builds its model
from our $metadata (fetched without a token: it is public) and reads, filters, creates,
updates, navigates, calls the bound actions and deletes through that model.

Two defects of python-odata 0.8.1 itself are worked around here, both as a user of the
library would, and neither needs anything from the server:
  * Instances that come from a navigation, `$expand` or an action's result are built from
    the entity *type* class, which has no entity set, and reading the members of such a
    class calls the descriptor of a collection-bound action (our BulkUpload), which raises
    "Cannot query … objects as they don't have the collection defined". Giving each type
    class the name of its (only) entity set, as python-odata's hand-written models do, fixes it.
  * Enum literals in `$filter` are rendered with a hard-coded Dynamics namespace
    (`Microsoft.Dynamics.DataEntities.AlertSeverity'High'`), so enum filters go through
    `Query.raw` with the qualified literal of our $metadata.
A third needs no workaround: python-odata recognises `Core.Computed` only by its full name
(`Org.OData.Core.V1.Computed`), not through the `Core` alias our $metadata declares, so it
sends CreatedAt, HitCount… as nulls on create; the server ignores computed properties.
"""

from __future__ import annotations

import datetime

import pytest
import requests
from odata import ODataService
from odata.exceptions import ODataError
from odata.flags import ODataServerFlags


@pytest.fixture
def service(tenant):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {tenant.api.token}"
    service = ODataService(tenant.api.base, reflect_entities=True, session=session, quiet_progress=True)
    for set_name, set_class in service.entities.items():
        # First defect above: the type class is the entity set class's base.
        set_class.__mro__[1].__odata_collection__ = set_name
    return service


def new_definition(service, title: str, severity: str = "Low"):
    Definitions = service.entities["AlertDefinitions"]
    d = Definitions()
    d.Name = f"def {title}"
    d.Title = title
    d.UxDescription = "Created through python-odata"
    d.Severity = service.types["OpenTI.AlertSeverity"][severity]
    d.Category = service.types["OpenTI.AlertCategory"]["Malware"]
    d.Enabled = True
    service.save(d)
    return d


def test_model_is_built_from_metadata(service):
    assert {"AlertDefinitions", "IndicatorsOfCompromise"} <= set(service.entities)
    IocType = service.types["OpenTI.IocType"]
    assert [m.name for m in IocType] == ["Sha1", "Sha256", "Md5", "IpAddress", "DomainName", "Url", "FileName"]
    Iocs = service.entities["IndicatorsOfCompromise"]
    assert Iocs.Id.primary_key
    assert Iocs.AlertDefinition.entitycls is service.types["OpenTI.AlertDefinition"]
    Definitions = service.entities["AlertDefinitions"]
    assert Definitions.IndicatorsOfCompromise.is_collection
    assert service.query(Definitions).all() == []


def test_metadata_needs_no_token_but_the_data_does(tenant):
    anonymous = ODataService(tenant.api.base, reflect_entities=True, quiet_progress=True)
    Definitions = anonymous.entities["AlertDefinitions"]
    assert Definitions.Severity.enum_class is anonymous.types["OpenTI.AlertSeverity"]
    with pytest.raises(ODataError) as failure:
        anonymous.query(Definitions).all()
    assert failure.value.status_code == "HTTP 401" and failure.value.code == "Unauthorized"


def test_create_read_filter_update_delete(service):
    Definitions = service.entities["AlertDefinitions"]
    alpha = new_definition(service, "Alpha", "High")
    bravo = new_definition(service, "Bravo", "Low")
    assert isinstance(alpha.Id, int) and alpha.Id != bravo.Id
    assert alpha.Severity is service.types["OpenTI.AlertSeverity"].High
    assert isinstance(alpha.CreatedAt, datetime.datetime) and alpha.CreatedAt.tzinfo is not None

    got = service.query(Definitions).get(bravo.Id)
    assert (got.Id, got.Title) == (bravo.Id, "Bravo")
    assert [d.Id for d in service.query(Definitions).filter(Definitions.Title == "Alpha")] == [alpha.Id]
    assert [d.Id for d in service.query(Definitions).filter(Definitions.Title != "Alpha")] == [bravo.Id]
    both = service.query(Definitions).filter((Definitions.Title == "Alpha") | (Definitions.Title == "Bravo"))
    assert sorted(d.Id for d in both.order_by(Definitions.Id.asc())) == sorted([alpha.Id, bravo.Id])
    assert [d.Id for d in service.query(Definitions).filter(Definitions.Title.startswith("Alp"))] == [alpha.Id]
    assert [d.Id for d in service.query(Definitions).order_by(Definitions.Id.desc()).limit(1)] == [max(alpha.Id, bravo.Id)]
    assert [d.Id for d in service.query(Definitions).order_by(Definitions.Id.asc()).offset(1)] == [max(alpha.Id, bravo.Id)]
    assert service.query(Definitions).count() == 2
    high = service.query(Definitions).raw({"$filter": "Severity eq OpenTI.AlertSeverity'High'"})
    assert [row["Id"] for row in high] == [alpha.Id]

    bravo.Title = "Bravo renamed"
    bravo.Enabled = False
    service.save(bravo)
    again = service.query(Definitions).get(bravo.Id)
    assert again.Title == "Bravo renamed" and again.Enabled is False and again.LastModifiedAt is not None

    service.delete(alpha)
    assert [d.Id for d in service.query(Definitions)] == [bravo.Id]
    with pytest.raises(ODataError) as failure:
        service.delete(alpha)  # gone: the OData error JSON surfaces as the client's error
    assert failure.value.code == "NotFound"


def test_iocs_bound_through_the_navigation_property(service):
    Iocs = service.entities["IndicatorsOfCompromise"]
    Definitions = service.entities["AlertDefinitions"]
    IocType = service.types["OpenTI.IocType"]
    Function = service.types["OpenTI.DetectionFunction"]
    owner = new_definition(service, "Owner")

    created = []
    for ioc_type, value, function in [("Sha1", "A" * 40, "Equals"), ("DomainName", "Evil.Example", "EndWith"), ("IpAddress", "192.0.2.0/28", "Equals")]:
        i = Iocs()
        i.Type = IocType[ioc_type]
        i.Value = value
        i.DetectionFunction = Function[function]
        i.Enabled = True
        i.AlertDefinition = owner  # sent as "AlertDefinition@odata.bind": "AlertDefinitions(n)"
        service.save(i)
        created.append(i)
    assert [(i.Type.name, i.Value) for i in created] == [("Sha1", "a" * 40), ("DomainName", "evil.example"), ("IpAddress", "192.0.2.0/28")]
    assert all(i.AlertDefinitionId == owner.Id for i in created)

    fresh_owner = service.query(Definitions).get(owner.Id)
    assert sorted(i.Id for i in fresh_owner.IndicatorsOfCompromise) == sorted(i.Id for i in created)
    fresh_ioc = service.query(Iocs).get(created[1].Id)
    assert fresh_ioc.AlertDefinition.Id == owner.Id and fresh_ioc.AlertDefinition.Title == "Owner"
    expanded = service.query(Iocs).expand(Iocs.AlertDefinition).filter(Iocs.Value == "evil.example").one()
    assert expanded.AlertDefinition.Title == "Owner"
    sha1 = service.query(Iocs).raw({"$filter": "Type eq OpenTI.IocType'Sha1'"})
    assert [row["Id"] for row in sha1] == [created[0].Id]


def test_bound_actions(service):
    Definitions = service.entities["AlertDefinitions"]
    Iocs = service.entities["IndicatorsOfCompromise"]

    made = Definitions.BulkUpload(alertDefinitions=[
        {"Name": "b1", "Severity": "Low", "Title": "Bulk one", "UxDescription": "u", "Category": "Trojan"},
        {"Name": "b2", "Severity": "High", "Title": "Bulk two", "UxDescription": "u", "Category": "Backdoor"},
    ])
    assert [d.Title for d in made] == ["Bulk one", "Bulk two"]
    target = made[0].Id

    iocs = Iocs.BulkUpload(iocs=[
        {"Type": "Url", "Value": "http://bad.example/a", "AlertDefinition@odata.bind": f"AlertDefinitions({target})"},
        {"Type": "FileName", "Value": "bad.exe", "AlertDefinition@odata.bind": f"AlertDefinitions({target})"},
    ])
    assert [(i.Type.name, i.AlertDefinitionId) for i in iocs] == [("Url", target), ("FileName", target)]

    definition = service.query(Definitions).get(target)
    assert definition.DeleteIOCs() is None  # 204
    assert service.query(Iocs).all() == []
    assert service.query(Definitions).get(target).Title == "Bulk one"


def test_rebind_by_assigning_the_navigation_property(service):
    Iocs = service.entities["IndicatorsOfCompromise"]
    old, new = new_definition(service, "Old"), new_definition(service, "New")
    i = Iocs()
    i.Type = service.types["OpenTI.IocType"].Md5
    i.Value = "0" * 32
    i.DetectionFunction = service.types["OpenTI.DetectionFunction"].Equals
    i.Enabled = True
    i.AlertDefinition = old
    service.save(i)

    i.AlertDefinition = new  # PATCH with "AlertDefinition@odata.bind": "AlertDefinitions(new)"
    service.save(i)
    assert i.AlertDefinitionId == new.Id
    assert service.query(Iocs).get(i.Id).AlertDefinition.Title == "New"


def test_query_follows_next_links(service):
    Iocs = service.entities["IndicatorsOfCompromise"]
    owner = new_definition(service, "Many")
    bodies = [{"Type": "Sha1", "Value": f"{n:040x}", "AlertDefinition@odata.bind": f"AlertDefinitions({owner.Id})"} for n in range(1001)]
    assert len(Iocs.BulkUpload(iocs=bodies)) == 1001
    # Pages hold at most 1000 entities; the client walks @odata.nextLink to the end.
    assert sorted(i.Value for i in service.query(Iocs)) == sorted(b["Value"] for b in bodies)
    assert service.query(Iocs).count() == 1001


def test_flags_for_servers_that_want_no_nulls(tenant):
    """python-odata's documented switch for strict servers: no nulls, no @odata.type."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {tenant.api.token}"
    flags = ODataServerFlags(skip_null_properties=True, provide_odata_type_annotation=False)
    service = ODataService(tenant.api.base, reflect_entities=True, session=session, quiet_progress=True, server_flags=flags)
    Definitions = service.entities["AlertDefinitions"]
    d = Definitions()
    d.Name, d.Title, d.UxDescription = "n", "No nulls", "u"
    d.Severity = service.types["OpenTI.AlertSeverity"].Medium
    d.Category = service.types["OpenTI.AlertCategory"].Exploit
    service.save(d)  # Enabled omitted: the $metadata default (true) applies
    assert service.query(Definitions).get(d.Id).Enabled is True
