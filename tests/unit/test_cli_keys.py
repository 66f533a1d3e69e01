"""`simctl keys` and `simctl tenants` against an in-process catalog keeping its keys in memory."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from support.apps import AppsThread, started_catalog

from simmesh.kit.server import App
from simmesh_client.cli import main

BOOTSTRAP = "cli-bootstrap-key"


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[str]:
    async def start_apps() -> list[App]:
        settings = dict(api_keys="memory", internal_token="cli-internal", bootstrap_key=BOOTSTRAP)
        return [await started_catalog(tmp_path / "catalog", indexer_addr="127.0.0.1:1", **settings)]

    server = AppsThread(start_apps).start()
    yield server.addresses[0]
    server.stop()


def simctl(catalog: str, token: str, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["--catalog", catalog, "--token", token, *args])
    return code, out.getvalue(), err.getvalue()


def test_keys_are_created_listed_and_revoked_and_a_secret_is_printed_only_at_creation(catalog):
    code, out, err = simctl(catalog, BOOTSTRAP, "tenants", "create", "acme")
    assert code == 0 and "shown this once" in err
    admin = out.splitlines()[1]
    assert admin.startswith("smk_") and "admin of tenants/acme" in out

    code, out, _ = simctl(catalog, admin, "keys", "create", "--role", "reader", "--ttl-days", "1", "--json")
    made = json.loads(out)
    assert code == 0 and made["tenant"] == "tenants/acme" and made["secret"].startswith("smk_")

    code, out, _ = simctl(catalog, admin, "keys", "list")
    assert code == 0 and made["name"] in out and "reader" in out
    assert made["secret"] not in out and admin not in out

    assert simctl(catalog, admin, "keys", "revoke", made["name"])[0] == 0
    assert made["name"] not in simctl(catalog, admin, "keys", "list")[1]
    assert made["name"] in simctl(catalog, admin, "keys", "list", "--revoked")[1]
    code, _, err = simctl(catalog, made["secret"], "keys", "list")
    assert code == 1 and "revoked" in err

    code, out, _ = simctl(catalog, BOOTSTRAP, "tenants", "list")
    assert code == 0 and "tenants/acme" in out


def test_a_writer_key_cannot_manage_keys(catalog):
    admin = simctl(catalog, BOOTSTRAP, "tenants", "create", "acme")[1].splitlines()[1]
    writer = json.loads(simctl(catalog, admin, "keys", "create", "--role", "writer", "--json")[1])["secret"]
    code, _, err = simctl(catalog, writer, "keys", "create", "--role", "reader")
    assert code == 1 and "admin" in err


def test_a_key_is_created_with_its_own_rate_limit_and_daily_quota(catalog):
    admin = simctl(catalog, BOOTSTRAP, "tenants", "create", "acme")[1].splitlines()[1]
    code, out, _ = simctl(
        catalog, admin, "keys", "create", "--role", "reader", "--rate-limit", "5", "--daily-quota", "100", "--json"
    )
    name = json.loads(out)["name"]
    code, out, _ = simctl(catalog, admin, "keys", "list", "--json")
    listed = {key["name"]: key for key in json.loads(out)}
    assert code == 0 and (listed[name]["rate_limit"], listed[name]["daily_quota"]) == (5, "100")
