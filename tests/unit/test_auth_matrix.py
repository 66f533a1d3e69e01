"""The authorisation matrix, generated from the service descriptors: every RPC of every public
service (and of the internal shard API) has a rule, and on the real servers, with API keys kept in
etcd, a call with no key or a revoked key is UNAUTHENTICATED, a key of a smaller role than the rule
asks is PERMISSION_DENIED, and a key of the rule's role gets past authorisation (the empty request
may then fail for other reasons). A key of another tenant, of the rule's role, naming the owning
tenant's resources (requests built from the descriptors: support.tenant_requests) finds nothing:
NOT_FOUND, listings without them, and the resources read back unchanged."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import pkgutil
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from fixtures.status import reason_of
from google.longrunning import operations_proto_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from support.auth_apps import APPS, INTERNAL_TOKEN, auth_settings
from support.empty_calls import call_empty, call_one
from support.tenant_requests import MARK, NAMES, other_tenants_request
from support.tenant_seeds import SEEDS, read_back, seed_labeler_store

import simmesh_proto.internal.v1
import simmesh_proto.v1
from simmesh.kit.auth.etcd_store import EtcdKeyStore
from simmesh.kit.auth.identity import Role
from simmesh.kit.auth.keys import new_key
from simmesh.kit.auth.rules import INTERNAL, Need, rule_for

WHOLE_DATABASE = "simmesh.v1.DatabaseBackupService"
REFUSED = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}


def _services() -> dict[str, ServiceDescriptor]:
    """Every service the simmesh_proto descriptors declare, and google.longrunning.Operations."""
    found = {"google.longrunning.Operations": operations_proto_pb2.DESCRIPTOR.services_by_name["Operations"]}
    for package in (simmesh_proto.v1, simmesh_proto.internal.v1):
        for module in pkgutil.iter_modules(package.__path__):
            if module.name.endswith("_pb2"):
                file = importlib.import_module(f"{package.__name__}.{module.name}").DESCRIPTOR
                found.update({s.full_name: s for s in file.services_by_name.values()})
    return found


SERVICES = _services()


def _path(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def test_every_rpc_of_every_service_has_an_authorisation_rule():
    missing = [_path(m) for s in SERVICES.values() for m in s.methods if rule_for(_path(m)) is None]
    assert missing == []


def test_every_service_is_served_by_an_app_of_the_matrix():
    served = set().union(*(names for _, _, names in APPS.values()))
    assert set(SERVICES) <= served


@dataclasses.dataclass(frozen=True)
class Keys:
    """Keys of tenant acme, one per role, and a revoked admin key; keys of tenant beta, one per role."""

    by_role: dict[Role, str]
    revoked: str
    beta_by_role: dict[Role, str]
    acme_key_ids: list[str]
    default_admin: str  # database backups hold every tenant's rows: only the default tenant's keys pass

    def sufficient(self, need: Need, path: str = "") -> str:
        if path.startswith(f"/{WHOLE_DATABASE}/"):
            return self.default_admin
        return INTERNAL_TOKEN if need == INTERNAL else self.by_role[need]

    def too_small(self, need: Need) -> str | None:
        """A key one role short of `need` (an admin key for the shard API); None for reader rules."""
        if need == INTERNAL:
            return self.by_role[Role.ADMIN]
        return self.by_role[Role(need - 1)] if need > Role.READER else None


@pytest.fixture
def keys(etcd_client, etcd_prefix) -> Iterator[Keys]:
    store = EtcdKeyStore(etcd_client, etcd_prefix)
    by_role, beta_by_role, acme_key_ids = {}, {}, []
    for role in Role:
        by_role[role], record = new_key("acme", role)
        store.put(record)
        acme_key_ids.append(record.key_id)
        beta_by_role[role], record = new_key("beta", role)
        store.put(record)
    revoked, record = new_key("acme", Role.ADMIN)
    store.put(record.revoke())
    default_admin, record = new_key("default", Role.ADMIN)
    store.put(record)
    store.close()
    yield Keys(by_role, revoked, beta_by_role, acme_key_ids, default_admin)


@pytest.fixture(params=sorted(APPS))
async def app(request, tmp_path, etcd_server, etcd_prefix, keys) -> AsyncIterator:
    build, _, _ = APPS[request.param]
    started = await build(auth_settings(request.param, tmp_path, etcd_server.endpoint, etcd_prefix))
    await started.start()
    try:
        yield request.param, started
    finally:
        await started.stop(grace=0)


async def _code(channel: grpc.aio.Channel, method: MethodDescriptor, key: str | None) -> grpc.StatusCode:
    metadata = [("authorization", f"Bearer {key}")] if key is not None else None
    try:
        await call_empty(channel, method, metadata)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def _row(channel: grpc.aio.Channel, method: MethodDescriptor, keys: Keys) -> list[str]:
    """What is wrong with one method's row of the matrix (nothing: an empty list)."""
    need = rule_for(_path(method))
    assert need is not None, f"{_path(method)} has no rule"
    wrong = []
    for case, key, expected in (
        ("no key", None, {grpc.StatusCode.UNAUTHENTICATED}),
        ("revoked key", keys.revoked, {grpc.StatusCode.UNAUTHENTICATED}),
        ("smaller role", keys.too_small(need), {grpc.StatusCode.PERMISSION_DENIED}),
    ):
        if case == "smaller role" and key is None:
            continue
        code = await _code(channel, method, key)
        if code not in expected:
            wrong.append(f"{_path(method)} with {case}: {code.name}")
    code = await _code(channel, method, keys.sufficient(need, _path(method)))
    if code in REFUSED:
        wrong.append(f"{_path(method)} with a {getattr(need, 'label', need)} key: {code.name}")
    return wrong


async def test_every_rpc_refuses_missing_revoked_and_too_small_keys_and_admits_its_role(app, keys):
    kind, started = app
    assert set(started.service_names) == APPS[kind][2]
    methods = [m for name in started.service_names for m in SERVICES[name].methods]
    async with grpc.aio.insecure_channel(started.address) as channel:
        rows = await asyncio.gather(*(_row(channel, m, keys) for m in methods))
    assert [problem for row in rows for problem in row] == []


# ---------------------------------------------------------------------------------------------
# A key of another tenant: beta, with a key of the rule's role, names acme's resources.

# Public RPCs whose request names no existing resource, and why.
NOT_RESOURCE_ADDRESSED = {
    "/google.longrunning.Operations/ListOperations": "lists the caller's operations (checked: none of acme's)",
    "/simmesh.v1.KeyService/ListTenants": "lists the caller's tenant (checked: not acme)",
    "/simmesh.v1.CatalogService/CreateSimilarityType": "creates a new type of the caller's, refers to nothing",
    "/simmesh.v1.CatalogService/ListSimilarityTypes": "lists the caller's (checked: none of acme's)",
    "/simmesh.v1.CatalogService/ListTasks": "lists the caller's (checked: none of acme's)",
    "/simmesh.v1.CatalogService/BatchCreateTrainingImages": "its groups are inside nested CreateTrainingImage "
    "requests, whose row covers them",
    "/simmesh.v1.EmbedderService/ImportModel": "imports a new model of the caller's under a new id",
    "/simmesh.v1.EmbedderService/ListModels": "lists the caller's and the built-in ones (checked: none of acme's)",
    "/simmesh.v1.IndexerService/ListCollections": "lists the caller's (checked: none of acme's)",
    "/simmesh.v1.LabelerService/ListProjects": "lists the caller's (checked: none of acme's)",
    **{
        f"/{WHOLE_DATABASE}/{name}": "a database backup holds every tenant's rows (checked: refused, see ANSWERS)"
        for name in ("BackupDatabase", "RestoreDatabase", "ListDatabaseBackups")
    },
}
# What a call naming acme's resources answers where it is not NOT_FOUND: (code, reason or None).
ANSWERS = {
    # KeyService's own tenant rule: naming another tenant's keys is refused.
    "/simmesh.v1.KeyService/CreateKey": (grpc.StatusCode.PERMISSION_DENIED, "TENANT_MISMATCH"),
    "/simmesh.v1.KeyService/ListKeys": (grpc.StatusCode.PERMISSION_DENIED, "TENANT_MISMATCH"),
    "/simmesh.v1.KeyService/RevokeKey": (grpc.StatusCode.NOT_FOUND, "KEY_NOT_FOUND"),
    # A database backup holds every tenant's rows: only the default tenant may touch one.
    "/simmesh.v1.DatabaseBackupService/BackupDatabase": (grpc.StatusCode.PERMISSION_DENIED, "WHOLE_DATABASE"),
    "/simmesh.v1.DatabaseBackupService/RestoreDatabase": (grpc.StatusCode.PERMISSION_DENIED, "WHOLE_DATABASE"),
    "/simmesh.v1.DatabaseBackupService/ListDatabaseBackups": (grpc.StatusCode.PERMISSION_DENIED, "WHOLE_DATABASE"),
    # Creates naming a model kept by the embedder, which the matrix does not run (the embedder's
    # NOT_FOUND for another tenant's model: test_embedder_tenants).
    "/simmesh.v1.IndexerService/CreateCollection": (grpc.StatusCode.UNAVAILABLE, None),
    "/simmesh.v1.LabelerService/CreateProject": (grpc.StatusCode.UNAVAILABLE, None),
}


def test_the_other_tenant_column_covers_every_public_app_and_names_only_existing_rpcs():
    assert set(SEEDS) == set(APPS) - {"shard"}
    rpcs = {_path(m) for s in SERVICES.values() for m in s.methods}
    assert set(NOT_RESOURCE_ADDRESSED) | set(ANSWERS) <= rpcs


@pytest.fixture(params=sorted(SEEDS))
async def seeded(request, tmp_path, etcd_server, etcd_prefix, keys) -> AsyncIterator:
    """An app with acme's resources (the router with a shard node to hold its collection)."""
    kind = request.param
    if kind == "labeler":
        seed_labeler_store(tmp_path / kind, "acme")
    started = []
    try:
        for one in ("shard", kind) if kind == "router" else (kind,):
            started.append(await APPS[one][0](auth_settings(one, tmp_path, etcd_server.endpoint, etcd_prefix)))
            await started[-1].start()
        yield kind, started[-1]
    finally:
        for app in reversed(started):
            await app.stop(grace=0)


async def _other_tenants_call(
    channel: grpc.aio.Channel, method: MethodDescriptor, request, key: str, secrets: set[str]
) -> str | None:
    """What is wrong with beta's call of `method` naming acme's resources (nothing: None); a listing
    must show none of `secrets`."""
    path = _path(method)
    metadata = [("authorization", f"Bearer {key}")]
    try:
        reply = await call_one(channel, method, request, metadata)
    except grpc.aio.AioRpcError as error:
        code, reason = ANSWERS.get(path, (grpc.StatusCode.NOT_FOUND, None))
        if error.code() == code and reason in (None, reason_of(error)):
            return None
        return f"{path}: {error.code().name} {reason_of(error)} {error.details()}"
    if method.name.startswith("List"):
        shown = str(reply)
        return f"{path} shows acme's: {shown[:200]!r}" if any(s in shown for s in secrets) else None
    return f"{path}: OK"


async def test_a_key_of_another_tenant_finds_nothing_and_changes_nothing(seeded, keys):
    kind, started = seeded
    acme = [("authorization", f"Bearer {keys.by_role[Role.ADMIN]}")]
    methods = [m for name in started.service_names for m in SERVICES[name].methods]
    async with grpc.aio.insecure_channel(started.address) as channel:
        made, reads = await SEEDS[kind](channel, acme)
        # the key named is the admin key acme reads back with: revoking it would show
        names = {**NAMES, "key": f"keys/{keys.acme_key_ids[-1]}", **made}
        secrets = {MARK, "acme", *made.values()}
        before = await read_back(channel, reads, acme)
        requests = {_path(m): other_tenants_request(m, names) for m in methods}
        unaddressed = {path for path, request in requests.items() if request is None}
        assert unaddressed == {p for p in NOT_RESOURCE_ADDRESSED if p in requests}
        calls = [
            _other_tenants_call(channel, m, requests[_path(m)], keys.beta_by_role[rule_for(_path(m))], secrets)
            for m in methods
            if requests[_path(m)] is not None or m.name.startswith("List") or _path(m) in ANSWERS
        ]
        wrong = [problem for problem in await asyncio.gather(*calls) if problem]
        assert wrong == [], "\n".join(wrong)
        assert await read_back(channel, reads, acme) == before
