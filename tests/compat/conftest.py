"""One real `openti serve` for the whole session (binary from $OPENTI_BIN, else
target/release/openti, else target/debug/openti), a temporary data directory, 127.0.0.1:0.

Tests that need a clean slate (empty lists, delete-all) take the `tenant` fixture: a fresh
tenant made with the CLI, so no test sees another's definitions. When a test fails, the
server's log is attached to its report.
"""

from __future__ import annotations

import os
import pathlib

import pytest
import requests

from openti_compat import Server, Tenant

_server: Server | None = None


@pytest.fixture(scope="session")
def server():
    global _server
    _server = Server()
    try:
        _save_metadata(_server)
        yield _server
    finally:
        _server.stop()


def _save_metadata(server: Server) -> None:
    """run.sh hands the $metadata the binary serves (XML and CSDL JSON) to check_metadata.sh."""
    target = os.environ.get("OPENTI_COMPAT_METADATA_DIR")
    if not target:
        return
    directory = pathlib.Path(target)
    directory.mkdir(parents=True, exist_ok=True)
    xml = requests.get(server.api_url("$metadata"), timeout=30)
    xml.raise_for_status()
    (directory / "metadata.xml").write_bytes(xml.content)
    as_json = requests.get(server.api_url("$metadata"), headers={"Accept": "application/json"}, timeout=30)
    as_json.raise_for_status()
    (directory / "metadata.json").write_bytes(as_json.content)


@pytest.fixture(scope="session")
def default_tenant(server: Server) -> Tenant:
    """The tenant `default` the first start created, from the saved custom-ti-app.json."""
    return Tenant.from_details(server, server.details, name="default")


@pytest.fixture
def tenant(server: Server) -> Tenant:
    return server.new_tenant()


@pytest.fixture
def api(tenant: Tenant):
    return tenant.api


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _server is not None:
        log = _server.stderr().splitlines()[-200:]
        state = "running" if _server.process.poll() is None else f"exited with {_server.process.returncode}"
        report.sections.append((f"openti serve stderr ({state}, last {len(log)} lines)", "\n".join(log)))
