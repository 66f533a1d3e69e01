"""Keys managed through the catalog's KeyService take effect on the other servers within seconds
(kept in etcd, watched), with an audit line each; a service calls its peers with the internal
credential and its caller's identity, so the peer authorises the caller's role."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from fixtures.status import reason_of
from support.auth_apps import BOOTSTRAP_KEY, INTERNAL_TOKEN, auth_settings
from support.fakes import refuse_the_rest

from simmesh.catalog.app import build_app as build_catalog
from simmesh.embedder.app import build_app as build_embedder
from simmesh.kit import errors
from simmesh.kit.auth.authenticator import Authenticator
from simmesh.kit.auth.identity import Identity, Role, current_identity
from simmesh.kit.auth.keys import new_key
from simmesh.kit.auth.store import MemoryKeyStore
from simmesh.kit.channels import open_channel
from simmesh.kit.logs import JsonFormatter
from simmesh.kit.server import binding, build_server
from simmesh.kit.settings import ServerSettings
from simmesh_proto.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    catalog_pb2,
    catalog_pb2_grpc,
    embedder_pb2,
    embedder_pb2_grpc,
    indexer_pb2,
    indexer_pb2_grpc,
)


def bearer(key: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {key}")]


@pytest.fixture
async def mesh(tmp_path, etcd_server, etcd_prefix) -> AsyncIterator[tuple[str, str]]:
    """A catalog and an embedder sharing keys in etcd: (catalog address, embedder address)."""
    apps = []
    for kind, build in (("catalog", build_catalog), ("embedder", build_embedder)):
        app = await build(auth_settings(kind, tmp_path, etcd_server.endpoint, etcd_prefix))
        await app.start()
        apps.append(app)
    try:
        yield apps[0].address, apps[1].address
    finally:
        for app in apps:
            await app.stop(grace=0)


async def _eventually_code(call, expected: grpc.StatusCode | None, within: float = 5.0) -> None:
    """Waits until `call()` succeeds (expected None) or fails with `expected`."""
    deadline = time.monotonic() + within
    while True:
        try:
            await call()
            code = None
        except grpc.aio.AioRpcError as error:
            code = error.code()
        if code == expected or time.monotonic() > deadline:
            assert code == expected
            return
        await asyncio.sleep(0.05)


async def test_a_key_made_on_the_catalog_works_on_the_embedder_and_its_revocation_too(mesh, caplog):
    catalog_address, embedder_address = mesh
    caplog.set_level(logging.INFO, logger="simmesh.audit")
    async with (
        grpc.aio.insecure_channel(catalog_address) as catalog,
        grpc.aio.insecure_channel(embedder_address) as embedder_channel,
    ):
        keys = auth_pb2_grpc.KeyServiceStub(catalog)
        embedder = embedder_pb2_grpc.EmbedderServiceStub(embedder_channel)
        made = await keys.CreateKey(
            auth_pb2.CreateKeyRequest(tenant="tenants/acme", role=auth_pb2.ROLE_READER),
            metadata=[*bearer(BOOTSTRAP_KEY), ("x-request-id", "req-create")],
        )
        assert made.secret.startswith("smk_") and made.key.tenant == "tenants/acme"
        list_models = lambda: embedder.ListModels(embedder_pb2.ListModelsRequest(), metadata=bearer(made.secret))  # noqa: E731
        await _eventually_code(list_models, None)

        await keys.RevokeKey(
            auth_pb2.RevokeKeyRequest(name=made.key.name),
            metadata=[*bearer(BOOTSTRAP_KEY), ("x-request-id", "req-rev")],
        )
        await _eventually_code(list_models, grpc.StatusCode.UNAUTHENTICATED)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await list_models()
        assert reason_of(caught.value) == "API_KEY_REVOKED"

    lines = [json.loads(JsonFormatter("catalog").format(r)) for r in caplog.records if r.name == "simmesh.audit"]
    key_id = made.key.name.removeprefix("keys/")
    assert [(line["audit"], line["tenant"], line["key_id"], line["request_id"]) for line in lines] == [
        ("key.create", "acme", key_id, "req-create"),
        ("key.revoke", "acme", key_id, "req-rev"),
    ]
    secret = made.secret.split("_", 2)[2]
    assert not any(secret in r.getMessage() or secret in json.dumps(vars(r), default=str) for r in caplog.records)


async def test_an_admin_manages_the_keys_of_its_own_tenant_only(mesh):
    catalog_address, _ = mesh
    async with grpc.aio.insecure_channel(catalog_address) as catalog:
        keys = auth_pb2_grpc.KeyServiceStub(catalog)

        async def create(tenant: str, role: int, by: str) -> auth_pb2.CreateKeyResponse:
            return await keys.CreateKey(auth_pb2.CreateKeyRequest(tenant=tenant, role=role), metadata=bearer(by))

        admin = (await create("tenants/acme", auth_pb2.ROLE_ADMIN, BOOTSTRAP_KEY)).secret
        other = await create("tenants/globex", auth_pb2.ROLE_READER, BOOTSTRAP_KEY)
        writer = await create("", auth_pb2.ROLE_WRITER, admin)
        assert writer.key.tenant == "tenants/acme"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await create("tenants/globex", auth_pb2.ROLE_READER, admin)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED and reason_of(caught.value) == "TENANT_MISMATCH"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await keys.RevokeKey(auth_pb2.RevokeKeyRequest(name=other.key.name), metadata=bearer(admin))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND and reason_of(caught.value) == "KEY_NOT_FOUND"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await create("", auth_pb2.ROLE_READER, writer.secret)
        assert reason_of(caught.value) == "ROLE_TOO_LOW"

        listed = await keys.ListKeys(auth_pb2.ListKeysRequest(), metadata=bearer(admin))
        assert {k.tenant for k in listed.keys} == {"tenants/acme"} and len(listed.keys) == 2
        own = await keys.ListTenants(auth_pb2.ListTenantsRequest(), metadata=bearer(admin))
        assert [t.name for t in own.tenants] == ["tenants/acme"]
        every = await keys.ListTenants(auth_pb2.ListTenantsRequest(), metadata=bearer(BOOTSTRAP_KEY))
        assert {t.name for t in every.tenants} >= {"tenants/acme", "tenants/globex"}


class _Seen(indexer_pb2_grpc.IndexerServiceServicer):
    """Records who called GetCollection; with a peer, calls the peer's GetCollection or InsertRecords first."""

    def __init__(self, peer: str = "") -> None:
        self.peer = peer
        self.identities: list[Identity | None] = []

    async def GetCollection(self, request, context):
        self.identities.append(current_identity())
        if self.peer:
            async with open_channel(self.peer, INTERNAL_TOKEN) as channel:
                stub = indexer_pb2_grpc.IndexerServiceStub(channel)
                try:
                    if request.name == "collections/insert":
                        await stub.InsertRecords(indexer_pb2.InsertRecordsRequest())
                    await stub.GetCollection(request)
                except grpc.aio.AioRpcError as error:
                    raise errors.from_rpc_error(error) from None
        return indexer_pb2.Collection(name=request.name)


refuse_the_rest(_Seen, indexer_pb2.DESCRIPTOR.services_by_name["IndexerService"])


async def test_a_service_calls_its_peer_with_the_callers_identity_and_the_peer_checks_the_callers_role():
    store = MemoryKeyStore()
    reader, record = new_key("acme", Role.READER)
    store.put(record)
    settings = ServerSettings(host="127.0.0.1", port=0)
    back, front = _Seen(), None
    apps = []
    for servicer in (back, None):
        if servicer is None:
            servicer = front = _Seen(apps[0].address)
        app = build_server(
            settings,
            [binding(servicer, indexer_pb2, indexer_pb2_grpc, "IndexerService")],
            authenticator=Authenticator(store, internal_token=INTERNAL_TOKEN),
        )
        await app.start()
        apps.append(app)
    try:
        async with grpc.aio.insecure_channel(apps[1].address) as channel:
            stub = indexer_pb2_grpc.IndexerServiceStub(channel)
            await stub.GetCollection(indexer_pb2.GetCollectionRequest(name="collections/a"), metadata=bearer(reader))
            with pytest.raises(grpc.aio.AioRpcError) as caught:  # a reader may not insert, even through a peer
                await stub.GetCollection(
                    indexer_pb2.GetCollectionRequest(name="collections/insert"), metadata=bearer(reader)
                )
            assert (
                caught.value.code() == grpc.StatusCode.PERMISSION_DENIED and reason_of(caught.value) == "ROLE_TOO_LOW"
            )
    finally:
        for app in apps:
            await app.stop(grace=0)
    assert front is not None and front.identities[0] == Identity("acme", record.key_id, Role.READER)
    assert back.identities == [Identity("acme", record.key_id, Role.READER, internal=True)]


async def test_a_refused_call_changes_nothing_and_the_same_call_with_a_writer_key_does(mesh):
    catalog_address, _ = mesh
    async with grpc.aio.insecure_channel(catalog_address) as channel:
        keys, catalog = auth_pb2_grpc.KeyServiceStub(channel), catalog_pb2_grpc.CatalogServiceStub(channel)
        made = {
            role: (await keys.CreateKey(auth_pb2.CreateKeyRequest(role=role), metadata=bearer(BOOTSTRAP_KEY))).secret
            for role in (auth_pb2.ROLE_READER, auth_pb2.ROLE_WRITER)
        }
        create = catalog_pb2.CreateSimilarityTypeRequest(similarity_type_id="colour")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await catalog.CreateSimilarityType(create, metadata=bearer(made[auth_pb2.ROLE_READER]))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        listed = await catalog.ListSimilarityTypes(
            catalog_pb2.ListSimilarityTypesRequest(), metadata=bearer(BOOTSTRAP_KEY)
        )
        assert list(listed.similarity_types) == []
        await catalog.CreateSimilarityType(create, metadata=bearer(made[auth_pb2.ROLE_WRITER]))
        listed = await catalog.ListSimilarityTypes(
            catalog_pb2.ListSimilarityTypesRequest(), metadata=bearer(made[auth_pb2.ROLE_READER])
        )
        assert [t.name for t in listed.similarity_types] == ["similarityTypes/colour"]
