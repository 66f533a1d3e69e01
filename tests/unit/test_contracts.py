"""Contract tests: walk the proto descriptors of every public service and check that each server
lists every RPC through reflection, that every servicer defines every RPC of its service, and that
every RPC answers (an empty request) either with a result or with a status carrying a simmesh
`ErrorInfo` reason, never UNIMPLEMENTED."""

from __future__ import annotations

import asyncio
import dataclasses

import grpc
import pytest
from google.longrunning import operations_proto_pb2
from google.protobuf import descriptor_pool
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from grpc_status import rpc_status
from support.empty_calls import call_empty

from simmesh.catalog.app import build_app as build_catalog
from simmesh.catalog.servicer import CatalogServicer
from simmesh.catalog.settings import CatalogSettings
from simmesh.embedder.app import build_app as build_embedder
from simmesh.embedder.servicer import EmbedderServicer
from simmesh.embedder.settings import EmbedderSettings
from simmesh.indexer.app import build_router
from simmesh.indexer.servicer import IndexerServicer
from simmesh.indexer.settings import RouterSettings
from simmesh.indexer.shard_servicer import ShardServicer
from simmesh.kit.auth.key_service import KeyServicer
from simmesh.kit.operations_service import OperationsServicer
from simmesh.kit.server import missing_rpcs
from simmesh.labeler.app import build_app as build_labeler
from simmesh.labeler.servicer import LabelerServicer
from simmesh.labeler.settings import LabelerSettings
from simmesh_proto.internal.v1 import shard_pb2
from simmesh_proto.v1 import auth_pb2, catalog_pb2, embedder_pb2, indexer_pb2, labeler_pb2

SERVICES = {
    "embedder": (embedder_pb2, "EmbedderService", build_embedder, EmbedderSettings),
    "indexer": (indexer_pb2, "IndexerService", build_router, RouterSettings),
    "catalog": (catalog_pb2, "CatalogService", build_catalog, CatalogSettings),
    "labeler": (labeler_pb2, "LabelerService", build_labeler, LabelerSettings),
}

# Services that start long-running jobs also serve google.longrunning.Operations.
JOB_SERVICES = {"simmesh.v1.IndexerService", "simmesh.v1.CatalogService"}

STANDARD = {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}

# Every servicer the services register, with the service it serves.
SERVICERS = [
    (EmbedderServicer, embedder_pb2.DESCRIPTOR.services_by_name["EmbedderService"]),
    (IndexerServicer, indexer_pb2.DESCRIPTOR.services_by_name["IndexerService"]),
    (CatalogServicer, catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"]),
    (LabelerServicer, labeler_pb2.DESCRIPTOR.services_by_name["LabelerService"]),
    (ShardServicer, shard_pb2.DESCRIPTOR.services_by_name["ShardService"]),
    (OperationsServicer, operations_proto_pb2.DESCRIPTOR.services_by_name["Operations"]),
    (KeyServicer, auth_pb2.DESCRIPTOR.services_by_name["KeyService"]),
]


@pytest.mark.parametrize(("servicer", "descriptor"), SERVICERS, ids=lambda v: getattr(v, "__name__", ""))
def test_every_servicer_defines_every_rpc_of_its_service(servicer, descriptor):
    assert missing_rpcs(servicer, descriptor) == []


@pytest.fixture(params=sorted(SERVICES))
async def service(request, tmp_path, etcd_server):
    pb2, name, build, settings_cls = SERVICES[request.param]
    settings = settings_cls(host="127.0.0.1", port=0, data_dir=str(tmp_path))
    if settings_cls is RouterSettings:
        settings = dataclasses.replace(
            settings, etcd_endpoints=(etcd_server.endpoint,), etcd_prefix=f"/contracts-{tmp_path.name}"
        )
    if settings_cls is EmbedderSettings:
        settings = dataclasses.replace(settings, builtin_models=False)
    app = await build(settings)
    await app.start()
    try:
        yield app, pb2.DESCRIPTOR.services_by_name[name]
    finally:
        await app.stop(grace=0)


def _reflect(address: str, service_name: str) -> tuple[list[str], list[str]]:
    """(services listed, methods of `service_name`) as a reflection client sees them."""
    with grpc.insecure_channel(address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        pool = descriptor_pool.DescriptorPool(database)
        listed = list(database.get_services())
        methods = [m.name for m in pool.FindServiceByName(service_name).methods]
    return listed, methods


async def test_reflection_lists_every_rpc(service):
    app, descriptor = service
    listed, methods = await asyncio.to_thread(_reflect, app.address, descriptor.full_name)
    assert descriptor.full_name in listed
    assert set(listed) >= STANDARD
    assert methods == [m.name for m in descriptor.methods]
    if descriptor.full_name in JOB_SERVICES:
        assert "google.longrunning.Operations" in listed


async def test_every_rpc_answers_with_a_result_or_a_reason(service):
    app, descriptor = service
    async with grpc.aio.insecure_channel(app.address) as channel:
        for method in descriptor.methods:
            try:
                await call_empty(channel, method)
            except grpc.aio.AioRpcError as error:
                status = rpc_status.from_call(error)
                assert status is not None, f"{method.full_name}: {error.code()} without status details"
                infos = [d for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
                assert infos, f"{method.full_name}: {error.code()} without ErrorInfo"
                info = error_details_pb2.ErrorInfo()
                infos[0].Unpack(info)
                assert info.domain == "simmesh" and info.reason, method.full_name
                assert error.code() != grpc.StatusCode.UNIMPLEMENTED, f"{method.full_name} is not implemented"
