"""Helpers of the compatibility suite: the real `openti` binary as a subprocess, and thin
wrappers that talk to it the way the published clients of the custom TI API v1.0 did.

Nothing here knows the server's internals; every helper is plain HTTP (requests) or the
binary's CLI, so a test failure is a wire-level difference a real client would hit too.
"""

from __future__ import annotations

import json
import os
import pathlib
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass

import requests

REPO = pathlib.Path(__file__).resolve().parents[2]
GRAPH = "https://graph.windows.net"
LISTENING = "OpenTI is listening on "
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TIMEOUT = 30


def binary() -> pathlib.Path:
    """`$OPENTI_BIN`, else the release build, else the debug build."""
    if os.environ.get("OPENTI_BIN"):
        path = pathlib.Path(os.environ["OPENTI_BIN"]).resolve()
        if not path.is_file():
            raise RuntimeError(f"OPENTI_BIN={path} does not exist")
        return path
    for candidate in (REPO / "target/release/openti", REPO / "target/debug/openti"):
        if candidate.is_file():
            return candidate
    raise RuntimeError("no openti binary: run `cargo build -p openti` or set OPENTI_BIN")


class Server:
    """`openti serve` on 127.0.0.1:0 with a temporary data directory."""

    def __init__(self) -> None:
        self.bin = binary()
        self.data_dir = pathlib.Path(tempfile.mkdtemp(prefix="openti-compat-"))
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        # The server must see only what the suite sets: an OPENTI_PUBLIC_URL or
        # OPENTI_AUDIENCES from the caller's shell would change what it answers.
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENTI_")}
        env.update(OPENTI_LOG="info", NO_COLOR="1")
        self.process = subprocess.Popen(
            [str(self.bin), "--data-dir", str(self.data_dir), "serve", "--listen", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        # Both pipes are drained for the whole run, or a chatty server would block on a full pipe.
        threading.Thread(target=self._drain, args=(self.process.stdout, self._stdout, True), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.process.stderr, self._stderr, False), daemon=True).start()
        self.url = self._wait_for_url(deadline=time.monotonic() + 60)
        self.details = json.loads((self.data_dir / "custom-ti-app.json").read_text(encoding="utf-8"))

    def _drain(self, stream, sink: list[str], announce: bool) -> None:
        for line in stream:
            sink.append(ANSI.sub("", line))
            if announce:
                self._lines.put(line)

    def _wait_for_url(self, deadline: float) -> str:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(
                    f"{self.bin} did not report '{LISTENING}…' (exit code {self.process.returncode}).\n"
                    f"--- stdout ---\n{self.stdout()}--- stderr ---\n{self.stderr()}"
                )
            try:
                line = self._lines.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                continue
            if line.startswith(LISTENING):
                return line[len(LISTENING):].strip().rstrip("/")

    def stdout(self) -> str:
        return "".join(self._stdout)

    def stderr(self) -> str:
        return "".join(self._stderr)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def api_url(self, path: str = "") -> str:
        return f"{self.url}/V1.0/{path}"

    def cli_json(self, *args: str) -> dict:
        """Runs `openti --data-dir DIR ARGS… --json` against the running server's store."""
        out = subprocess.run(
            [str(self.bin), "--data-dir", str(self.data_dir), *args, "--json"],
            capture_output=True, text=True, timeout=60, check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"openti {' '.join(args)} failed ({out.returncode}): {out.stderr}")
        return json.loads(out.stdout)

    def new_tenant(self, prefix: str = "compat") -> "Tenant":
        """A fresh tenant with its custom TI application enabled, as an admin does it."""
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        tenant_id = self.cli_json("tenant", "create", name)["TenantId"]
        details = self.cli_json("app", "enable", "--tenant", name, "--public-url", self.url)
        return Tenant.from_details(self, details, name=name, tenant_id=tenant_id)


def token_response(auth_url: str, client_id: str, client_secret: str, resource: str = GRAPH) -> requests.Response:
    """The token request of the published Python sample, byte for byte the same call."""
    payload = {
        "resource": resource,
        "client_id": client_id,
        "client_secret": client_secret,
        "grant_type": "client_credentials",
    }
    return requests.post(auth_url, payload, timeout=TIMEOUT)


def access_token(auth_url: str, client_id: str, client_secret: str) -> str:
    response = token_response(auth_url, client_id, client_secret)
    assert response.status_code == 200, f"token request failed: {response.status_code} {response.text}"
    return response.json()["access_token"]


class Api:
    """A requests session set up like the published sample (`session.headers = {Authorization}`),
    with paths relative to the API base URL `…/V1.0/`."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token
        self.session = requests.Session()
        # The sample replaces the session's headers wholesale: no Accept, no User-Agent.
        self.session.headers = {"Authorization": f"Bearer {token}"}

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        return self.session.request(method, self.url(path), **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def values(self, path: str, **kwargs) -> list[dict]:
        """GET a collection and return its `value` array, failing on anything but 200."""
        response = self.get(path, **kwargs)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()["value"]

    def create(self, set_name: str, body: dict) -> dict:
        response = self.post(set_name, json=body)
        assert response.status_code == 201, f"POST {set_name}: {response.status_code} {response.text}"
        return response.json()


@dataclass
class Tenant:
    name: str
    tenant_id: str
    client_id: str
    client_secret: str
    auth_url: str
    api: Api

    @classmethod
    def from_details(cls, server: Server, details: dict, name: str, tenant_id: str | None = None) -> "Tenant":
        token = access_token(details["AuthorizationUrl"], details["ClientId"], details["ClientSecret"])
        return cls(
            name=name,
            tenant_id=tenant_id or details["TenantId"],
            client_id=details["ClientId"],
            client_secret=details["ClientSecret"],
            auth_url=details["AuthorizationUrl"],
            api=Api(details["ApiUrl"], token),
        )


def definition(title: str = "Known bad address contacted", **overrides) -> dict:
    """An alert definition body in the shape of the published samples."""
    body = {
        "Name": f"def {title}"[:100],
        "Severity": "Low",
        "InternalDescription": "An internal description of the alert",
        "Title": title,
        "UxDescription": "The machine talked to a known bad address.",
        "RecommendedAction": "Isolate the machine and collect an investigation package.",
        "Category": "Trojan",
        "Enabled": True,
    }
    body.update(overrides)
    return body


def ioc(definition_id: int, ioc_type: str, value: str, function: str = "Equals", **overrides) -> dict:
    body = {
        "Type": ioc_type,
        "Value": value,
        "DetectionFunction": function,
        "Enabled": True,
        "AlertDefinition@odata.bind": f"AlertDefinitions({definition_id})",
    }
    body.update(overrides)
    return body


def odata_error(response: requests.Response, status: int) -> dict:
    """Asserts the status and the OData error JSON shape; returns the `error` object."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    error = response.json()["error"]
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    return error
