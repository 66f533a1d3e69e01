"""One tenant's resources on each server of the authorisation matrix, and what it reads of them back
(to show another tenant's calls left them unchanged)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import numpy as np
from google.longrunning import operations_pb2_grpc, operations_proto_pb2
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message

from simmesh.labeler.records import NewProject
from simmesh.labeler.store import default_db_url, open_labeler_store
from simmesh_proto.v1 import catalog_pb2 as C
from simmesh_proto.v1 import (
    catalog_pb2_grpc,
    common_pb2,
    embedder_pb2,
    embedder_pb2_grpc,
    indexer_pb2,
    indexer_pb2_grpc,
    labeler_pb2,
)
from support.empty_calls import call_one
from support.models import png_bytes, tiny_embedding_model, tiny_manifest
from support.tenant_requests import NAMES

_OPERATIONS = operations_proto_pb2.DESCRIPTOR.services_by_name["Operations"]
Metadata = list[tuple[str, str]]
# The calls that read the seeded resources back: (method, request).
Reads = list[tuple[MethodDescriptor, Message]]


def _id(kind: str) -> str:
    return NAMES[kind].rsplit("/", 1)[1]


def _rpc(module, method: str) -> MethodDescriptor:
    """`_rpc(indexer_pb2, "GetCollection")`: the method of the module's one service."""
    (service,) = module.DESCRIPTOR.services_by_name.values()
    return service.methods_by_name[method]


async def read_back(channel: grpc.aio.Channel, reads: Reads, auth: Metadata) -> list[bytes]:
    """The replies of `reads`, serialized, as the owning tenant gets them."""
    return [
        (await call_one(channel, method, request, auth)).SerializeToString(deterministic=True)
        for method, request in reads
    ]


async def seed_router(channel: grpc.aio.Channel, auth: Metadata) -> tuple[dict[str, str], Reads]:
    """A collection with one record, and a finished snapshot operation (the router must see a shard)."""
    indexer, operations = indexer_pb2_grpc.IndexerServiceStub(channel), operations_pb2_grpc.OperationsStub(channel)
    create = indexer_pb2.CreateCollectionRequest(
        collection_id=_id("collection"), collection=indexer_pb2.Collection(dimension=4, shard_count=1)
    )
    for _ in range(100):
        try:
            await indexer.CreateCollection(create, metadata=auth)
            break
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            await asyncio.sleep(0.1)
    vector = common_pb2.Vector(dimension=4, data=np.eye(4, dtype=np.float32)[0].tobytes())
    record = indexer_pb2.RecordInput(id=_id("record"), vector=vector)
    insert = indexer_pb2.InsertRecordsRequest(collection=NAMES["collection"], records=[record])
    assert not (await indexer.InsertRecords(insert, metadata=auth)).errors
    snapshot = indexer_pb2.SnapshotCollectionRequest(collection=NAMES["collection"], snapshot_id=_id("snapshot"))
    operation = await indexer.SnapshotCollection(snapshot, metadata=auth)
    wait = operations_proto_pb2.WaitOperationRequest(name=operation.name)
    assert (await operations.WaitOperation(wait, metadata=auth)).done

    reads = [
        (_rpc(indexer_pb2, "GetCollection"), indexer_pb2.GetCollectionRequest(name=NAMES["collection"])),
        (
            _rpc(indexer_pb2, "BatchGetRecords"),
            indexer_pb2.BatchGetRecordsRequest(collection=NAMES["collection"], ids=[_id("record")]),
        ),
        (_rpc(indexer_pb2, "ListSnapshots"), indexer_pb2.ListSnapshotsRequest(collection=NAMES["collection"])),
        (_OPERATIONS.methods_by_name["GetOperation"], operations_proto_pb2.GetOperationRequest(name=operation.name)),
    ]
    return {"operation": operation.name}, reads


async def seed_catalog(channel: grpc.aio.Channel, auth: Metadata) -> tuple[dict[str, str], Reads]:
    """A similarity type, a task of that type, a group of it holding one training image."""
    catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
    kind = C.CreateSimilarityTypeRequest(similarity_type_id=_id("similarity_type"), similarity_type=C.SimilarityType())
    await catalog.CreateSimilarityType(kind, metadata=auth)
    task = C.Task(similarity_types=[NAMES["similarity_type"]])
    await catalog.CreateTask(C.CreateTaskRequest(task_id=_id("task"), task=task), metadata=auth)
    group = C.Group(similarity_type=NAMES["similarity_type"])
    await catalog.CreateGroup(C.CreateGroupRequest(group_id=_id("group"), group=group), metadata=auth)
    image = C.CreateTrainingImageRequest(image=common_pb2.Image(content=png_bytes((9, 9, 9))), groups=[NAMES["group"]])
    image_name = (await catalog.CreateTrainingImage(image, metadata=auth)).name

    reads = [
        (_rpc(C, "GetSimilarityType"), C.GetSimilarityTypeRequest(name=NAMES["similarity_type"])),
        (_rpc(C, "GetTask"), C.GetTaskRequest(name=NAMES["task"])),
        (_rpc(C, "GetGroup"), C.GetGroupRequest(name=NAMES["group"])),
        (_rpc(C, "GetTrainingImage"), C.GetTrainingImageRequest(name=image_name)),
    ]
    return {"training_image": image_name}, reads


async def seed_embedder(channel: grpc.aio.Channel, auth: Metadata) -> tuple[dict[str, str], Reads]:
    """An imported model with one version."""
    embedder = embedder_pb2_grpc.EmbedderServiceStub(channel)
    onnx = tiny_embedding_model(dimension=4)
    header = embedder_pb2.ImportModelRequest.Header(
        model_id=_id("model"), manifest=tiny_manifest(dimension=4), size_bytes=len(onnx)
    )
    parts = [embedder_pb2.ImportModelRequest(header=header), embedder_pb2.ImportModelRequest(chunk=onnx)]
    assert (await embedder.ImportModel(iter(parts), metadata=auth)).name == NAMES["model_version"]

    reads = [
        (_rpc(embedder_pb2, "GetModel"), embedder_pb2.GetModelRequest(name=NAMES["model"])),
        (_rpc(embedder_pb2, "GetModelVersion"), embedder_pb2.GetModelVersionRequest(name=NAMES["model_version"])),
    ]
    return {}, reads


def seed_labeler_store(data_dir: Path, tenant: str) -> None:
    """A labeling project, written to the store before the labeler starts (creating one through the
    labeler needs a router, which the matrix does not run)."""
    store = open_labeler_store(default_db_url(data_dir))
    project = _id("project")
    try:
        store.create_project(
            NewProject(f"{tenant}.{project}", "models/generic", "models/generic/versions/1", f"{tenant}.lbl-{project}")
        )
    finally:
        store.close()


async def seed_labeler(channel: grpc.aio.Channel, auth: Metadata) -> tuple[dict[str, str], Reads]:
    """Nothing more (the project is in the store already)."""
    return {}, [(_rpc(labeler_pb2, "GetProject"), labeler_pb2.GetProjectRequest(name=NAMES["project"]))]


SEEDS = {"router": seed_router, "catalog": seed_catalog, "embedder": seed_embedder, "labeler": seed_labeler}
