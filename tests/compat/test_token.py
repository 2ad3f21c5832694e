"""The token endpoint as the published clients call it (SPEC A.2): the Python sample's
form post, Windows PowerShell 5.1's unencoded hashtable body, HTTP Basic client auth, and
the RFC 6749 §5.2 error JSON."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import quote

import requests

from openti_compat import GRAPH, TIMEOUT, Api, token_response

AZURE_AD_V1_KEYS = {"token_type", "expires_in", "ext_expires_in", "expires_on", "not_before", "resource", "access_token"}


def jwt_part(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def assert_azure_ad_v1(response: requests.Response, resource: str, tenant_id: str, client_id: str) -> str:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    # RFC 6749 §5.1: token responses must not be cached.
    assert response.headers.get("Cache-Control") == "no-store"
    body = response.json()
    assert AZURE_AD_V1_KEYS <= body.keys(), body.keys()
    assert body["token_type"] == "Bearer"
    assert body["resource"] == resource
    # Azure AD v1 sent every number as a JSON string; clients parse them with int().
    for key in ("expires_in", "ext_expires_in", "expires_on", "not_before"):
        assert isinstance(body[key], str) and body[key].isdigit(), (key, body[key])
    now = int(time.time())
    assert 3500 <= int(body["expires_in"]) <= 3600
    assert abs(int(body["not_before"]) - now) < 300
    assert int(body["expires_on"]) - int(body["not_before"]) == 3600

    token = body["access_token"]
    header, claims = jwt_part(token, 0), jwt_part(token, 1)
    assert header["alg"] == "RS256" and header.get("kid"), header
    assert claims["aud"] == resource
    assert claims["tid"] == tenant_id
    assert claims["appid"] == client_id
    assert claims["exp"] - claims["iat"] == 3600
    assert str(claims["exp"]) == body["expires_on"]
    return token


def test_published_python_sample_gets_a_token_that_the_api_accepts(server):
    details = server.details
    # Exactly the sample: requests.post(auth_url, payload) with the form as `data`.
    response = requests.post(
        details["AuthorizationUrl"],
        data={
            "grant_type": "client_credentials",
            "client_id": details["ClientId"],
            "client_secret": details["ClientSecret"],
            "resource": "https://graph.windows.net",
        },
        timeout=TIMEOUT,
    )
    token = assert_azure_ad_v1(response, GRAPH, details["TenantId"], details["ClientId"])

    listing = Api(details["ApiUrl"], token).get("AlertDefinitions")
    assert listing.status_code == 200, listing.text
    assert isinstance(listing.json()["value"], list)


def test_tenant_name_in_the_token_url_and_the_later_graph_resource(server, tenant):
    resource = "https://graph.microsoft.com"
    response = token_response(f"{server.url}/{tenant.name}/oauth2/token", tenant.client_id, tenant.client_secret, resource)
    token = assert_azure_ad_v1(response, resource, tenant.tenant_id, tenant.client_id)
    assert Api(tenant.api.base, token).get("IndicatorsOfCompromise").status_code == 200


def test_windows_powershell_hashtable_body(tenant):
    # Invoke-RestMethod -Body @{…} on Windows PowerShell 5.1 joins key=value pairs without
    # encoding them (the sample UrlEncodes only the secret), so ':' and '/' arrive raw.
    # The secret is URL-safe, so [System.Web.HttpUtility]::UrlEncode leaves it as it is.
    assert quote(tenant.client_secret, safe="") == tenant.client_secret
    body = f"resource={GRAPH}&client_id={tenant.client_id}&client_secret={tenant.client_secret}&grant_type=client_credentials"
    response = requests.post(
        tenant.auth_url,
        data=body.encode("ascii"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=TIMEOUT,
    )
    assert_azure_ad_v1(response, GRAPH, tenant.tenant_id, tenant.client_id)


def test_http_basic_client_authentication(tenant):
    response = requests.post(
        tenant.auth_url,
        data={"grant_type": "client_credentials", "resource": GRAPH},
        auth=(tenant.client_id, tenant.client_secret),
        timeout=TIMEOUT,
    )
    token = assert_azure_ad_v1(response, GRAPH, tenant.tenant_id, tenant.client_id)
    assert Api(tenant.api.base, token).get("AlertDefinitions").status_code == 200


def test_resource_may_be_omitted(tenant):
    response = requests.post(
        tenant.auth_url,
        data={"grant_type": "client_credentials", "client_id": tenant.client_id, "client_secret": tenant.client_secret},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["resource"] == jwt_part(body["access_token"], 1)["aud"]
    assert Api(tenant.api.base, body["access_token"]).get("AlertDefinitions").status_code == 200


def test_wrong_secret_is_invalid_client(tenant):
    response = token_response(tenant.auth_url, tenant.client_id, tenant.client_secret + "x")
    assert response.status_code == 401, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "invalid_client"
    assert isinstance(body.get("error_description"), str)
    assert "access_token" not in body


def test_wrong_basic_secret_is_invalid_client_with_a_basic_challenge(tenant):
    response = requests.post(
        tenant.auth_url,
        data={"grant_type": "client_credentials", "resource": GRAPH},
        auth=(tenant.client_id, "not-the-secret"),
        timeout=TIMEOUT,
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    # RFC 6749 §5.2: a failed Basic authentication answers with a Basic challenge.
    assert response.headers.get("WWW-Authenticate", "").lower().startswith("basic")


def test_client_of_another_tenant_is_invalid_client(server, tenant, default_tenant):
    response = token_response(f"{server.url}/{default_tenant.tenant_id}/oauth2/token", tenant.client_id, tenant.client_secret)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


def test_other_grant_types_are_unsupported(tenant):
    for grant in ("password", "authorization_code", "CLIENT_CREDENTIALS"):
        response = requests.post(
            tenant.auth_url,
            data={"grant_type": grant, "client_id": tenant.client_id, "client_secret": tenant.client_secret, "resource": GRAPH},
            timeout=TIMEOUT,
        )
        assert response.status_code == 400, (grant, response.text)
        body = response.json()
        assert body["error"] == "unsupported_grant_type", body
        assert "access_token" not in body


def test_missing_grant_type_is_invalid_request(tenant):
    response = requests.post(
        tenant.auth_url, data={"client_id": tenant.client_id, "client_secret": tenant.client_secret}, timeout=TIMEOUT
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


def test_api_rejects_missing_and_tampered_tokens(tenant):
    bare = requests.get(tenant.api.url("AlertDefinitions"), timeout=TIMEOUT)
    assert bare.status_code == 401
    assert bare.headers.get("WWW-Authenticate", "").startswith("Bearer")

    head, _, signature = tenant.api.token.split(".")
    claims = jwt_part(tenant.api.token, 1)
    claims["tid"] = "00000000-0000-0000-0000-000000000000"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    response = Api(tenant.api.base, f"{head}.{forged}.{signature}").get("AlertDefinitions")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers.get("WWW-Authenticate", "")
    assert response.json()["error"]["code"] == "Unauthorized"
