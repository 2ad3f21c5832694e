#!/usr/bin/env python3
"""A script outside the browser, as a customer would write one (standard library only):
it reads the details file the portal saved, gets a token and calls the API, or sends
telemetry with a sensor's credentials. Prints one JSON object.

  client.py setup DETAILS.json TITLE IOC_TYPE IOC_VALUE   token, a definition and an IOC
  client.py get URL TOKEN                                 GET with a bearer token
  client.py ingest BASE_URL TENANT CLIENT_ID SECRET FILE  NDJSON telemetry with a sensor app
"""
import json
import sys
import urllib.error
import urllib.parse
import urllib.request


def call(method, url, token=None, body=None, content_type="application/json"):
    data = None
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text


def token(authorization_url, client_id, secret, resource="https://graph.windows.net"):
    form = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "resource": resource}
    ).encode()
    status, body = call("POST", authorization_url, body=form, content_type="application/x-www-form-urlencoded")
    if status != 200:
        raise SystemExit(f"token request failed: {status} {body}")
    return body["access_token"]


def setup(details_path, title, ioc_type, ioc_value):
    with open(details_path, encoding="utf-8") as f:
        details = json.load(f)
    access = token(details["AuthorizationUrl"], details["ClientId"], details["ClientSecret"], details["Resource"])
    api = details["ApiUrl"]
    status, definition = call(
        "POST",
        api + "AlertDefinitions",
        access,
        {
            "Name": "portal walk",
            "Severity": "High",
            "Title": title,
            "UxDescription": "A workstation contacted a known command-and-control address.",
            "RecommendedAction": "Isolate the machine and collect a memory image.",
            "Category": "CommandAndControl",
            "Enabled": True,
        },
    )
    if status != 201:
        raise SystemExit(f"creating the definition failed: {status} {definition}")
    status, ioc = call(
        "POST",
        api + "IndicatorsOfCompromise",
        access,
        {
            "Type": ioc_type,
            "Value": ioc_value,
            "DetectionFunction": "Equals",
            "AlertDefinition@odata.bind": f"AlertDefinitions({definition['Id']})",
        },
    )
    if status != 201:
        raise SystemExit(f"creating the IOC failed: {status} {ioc}")
    return {"token": access, "definition": definition, "ioc": ioc}


def ingest(base, tenant, client_id, secret, path):
    access = token(f"{base}/{tenant}/oauth2/token", client_id, secret)
    with open(path, "rb") as f:
        body = f.read()
    status, result = call("POST", f"{base}/ingest/v1/events?format=native", access, body, "application/x-ndjson")
    return {"status": status, "result": result}


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "setup":
        out = setup(*args)
    elif command == "get":
        status, body = call("GET", args[0], args[1])
        out = {"status": status, "body": body}
    elif command == "ingest":
        out = ingest(*args)
    else:
        raise SystemExit(f"unknown command {command}")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv)
