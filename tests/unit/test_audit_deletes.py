"""The audit log of deletes: a delete that succeeds writes one JSON line on `simmesh.audit` with the
caller's tenant and key id and the request id; a refused or failed delete writes none."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import grpc
import pytest
from support.apps import started_catalog

from simmesh.kit.auth.rules import DELETES, INTERNAL, RULES
from simmesh.kit.logs import JsonFormatter
from simmesh_proto.v1 import auth_pb2, auth_pb2_grpc, catalog_pb2, catalog_pb2_grpc

BOOTSTRAP = "audit-bootstrap-key"


def call_metadata(key: str, request_id: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {key}"), ("x-request-id", request_id)]


@pytest.fixture
async def catalog(tmp_path) -> AsyncIterator[grpc.aio.Channel]:
    """A catalog with API keys kept in memory, and a channel to it."""
    app = await started_catalog(
        tmp_path / "catalog",
        indexer_addr="127.0.0.1:1",
        api_keys="memory",
        internal_token="audit-internal",
        bootstrap_key=BOOTSTRAP,
    )
    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            yield channel
    finally:
        await app.stop(grace=0)


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict]:
    formatter = JsonFormatter("catalog")
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "simmesh.audit"]


async def test_a_delete_writes_an_audit_line_with_tenant_key_and_request_id(catalog, caplog):
    keys, stub = auth_pb2_grpc.KeyServiceStub(catalog), catalog_pb2_grpc.CatalogServiceStub(catalog)
    made = {
        role: await keys.CreateKey(
            auth_pb2.CreateKeyRequest(tenant="tenants/acme", role=role), metadata=call_metadata(BOOTSTRAP, "req-key")
        )
        for role in (auth_pb2.ROLE_READER, auth_pb2.ROLE_ADMIN)
    }
    admin, reader = made[auth_pb2.ROLE_ADMIN], made[auth_pb2.ROLE_READER]
    await stub.CreateSimilarityType(
        catalog_pb2.CreateSimilarityTypeRequest(similarity_type_id="colour"), metadata=call_metadata(admin.secret, "c")
    )
    delete = catalog_pb2.DeleteSimilarityTypeRequest(name="similarityTypes/colour")
    caplog.set_level(logging.INFO, logger="simmesh.audit")

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.DeleteSimilarityType(delete, metadata=call_metadata(reader.secret, "req-refused"))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    await stub.DeleteSimilarityType(delete, metadata=call_metadata(admin.secret, "req-delete"))
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.DeleteSimilarityType(delete, metadata=call_metadata(admin.secret, "req-again"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND

    [line] = audit_lines(caplog)
    assert {k: line[k] for k in ("audit", "rpc_service", "method", "target", "tenant", "key_id", "request_id")} == {
        "audit": "delete",
        "rpc_service": "simmesh.v1.CatalogService",
        "method": "DeleteSimilarityType",
        "target": "similarityTypes/colour",
        "tenant": "acme",
        "key_id": admin.key.name.removeprefix("keys/"),
        "request_id": "req-delete",
    }
    assert admin.secret not in json.dumps(line) and line["logger"] == "simmesh.audit"


async def test_a_removal_counts_the_items_it_names_without_listing_them(catalog, caplog):
    stub = catalog_pb2_grpc.CatalogServiceStub(catalog)
    metadata = call_metadata(BOOTSTRAP, "req-remove")
    await stub.CreateSimilarityType(
        catalog_pb2.CreateSimilarityTypeRequest(similarity_type_id="colour"), metadata=metadata
    )
    for group_id in ("g1", "a", "b"):
        group = catalog_pb2.Group(similarity_type="similarityTypes/colour")
        await stub.CreateGroup(catalog_pb2.CreateGroupRequest(group_id=group_id, group=group), metadata=metadata)
    members = ["groups/a", "groups/b"]
    await stub.AddGroupMembers(
        catalog_pb2.AddGroupMembersRequest(group="groups/g1", members=members), metadata=metadata
    )
    caplog.set_level(logging.INFO, logger="simmesh.audit")
    await stub.RemoveGroupMembers(
        catalog_pb2.RemoveGroupMembersRequest(group="groups/g1", members=members), metadata=metadata
    )
    [line] = audit_lines(caplog)
    assert (line["method"], line["target"], line["items"]) == ("RemoveGroupMembers", "groups/g1", 2)
    assert (line["tenant"], line["key_id"], line["request_id"]) == ("default", "bootstrap", "req-remove")
    assert "groups/a" not in json.dumps(line)


def test_every_public_delete_or_remove_rpc_is_audited_and_no_shard_call_is():
    public = {m for m, need in RULES.items() if need != INTERNAL}
    named = {m for m in public if m.rsplit("/", 1)[1].startswith(("Delete", "Remove"))}
    assert named == DELETES
    assert {"/simmesh.v1.IndexerService/DeleteRecords", "/simmesh.v1.LabelerService/DeleteImages"} <= DELETES
    assert not any(m.startswith("/simmesh.internal.") for m in DELETES)
