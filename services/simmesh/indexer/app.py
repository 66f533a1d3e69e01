"""Wires the indexer's two roles from their settings: the router and a shard node."""

from __future__ import annotations

import asyncio
from pathlib import Path

from simmesh.indexer.layout import Layout
from simmesh.indexer.router import Router
from simmesh.indexer.router.tenant_names import public_operation
from simmesh.indexer.servicer import IndexerServicer
from simmesh.indexer.settings import RouterSettings, ShardSettings
from simmesh.indexer.shard_map import ShardMap
from simmesh.indexer.shard_node import ShardNode
from simmesh.indexer.shard_servicer import ShardServicer
from simmesh.indexer.vectors import configure_threads
from simmesh.kit.auth.setup import peer_token
from simmesh.kit.blobstore_config import open_blobstore
from simmesh.kit.channels import open_channel
from simmesh.kit.operations import close_operations, open_operations
from simmesh.kit.operations_service import operations_binding
from simmesh.kit.peers import EmbedderClient
from simmesh.kit.server import App, binding, build_server
from simmesh_proto.internal.v1 import shard_pb2, shard_pb2_grpc
from simmesh_proto.v1 import indexer_pb2, indexer_pb2_grpc


def _etcd(settings):
    return settings.etcd_config().connect()


def _serve_once_listed(app: App, shards: ShardMap) -> None:
    """Turns the router SERVING once its shard map is listed, without holding up the start."""

    async def wait() -> None:
        await shards.wait_listed()
        app.set_serving(True)

    app.background.append(asyncio.ensure_future(wait()))


async def build_router(settings: RouterSettings) -> App:
    etcd = _etcd(settings)
    shards = await asyncio.to_thread(
        ShardMap, etcd, Layout(settings.etcd_prefix), peer_token(settings), settings.peer_tls()
    )
    embedder = open_channel(settings.embedder_addr, peer_token(settings), settings.peer_tls())
    operations = open_operations(settings.data_dir, settings.operation_ttl)
    operations.recover()
    router = Router(
        shards,
        EmbedderClient(embedder, settings.embedder_addr),
        operations,
        min_train_vectors=settings.min_train_vectors,
        blobstore=open_blobstore(settings.blob_config(default_dir="images")),
        snapshot_store=open_blobstore(settings.blob_config(default_dir="snapshots")),
        image_limits=settings.image_limits(),
    )
    app = build_server(
        settings,
        [
            binding(IndexerServicer(router), indexer_pb2, indexer_pb2_grpc, "IndexerService"),
            operations_binding(operations, public_operation),
        ],
        service_label="indexer",
    )
    # Started while etcd is down, the router answers NOT_SERVING until its shard map is listed.
    app.serving_at_start = False
    app.on_start(lambda: _serve_once_listed(app, shards))
    app.on_close(lambda: close_operations(operations))
    app.on_close(router.coarse.close)
    app.on_close(shards.close)
    app.on_close(embedder.close)
    app.on_close(etcd.close)
    return app


async def build_shard(settings: ShardSettings) -> App:
    configure_threads(settings.faiss_threads)
    ordinal = settings.ordinal()
    etcd = _etcd(settings)
    blob_config = settings.blob_config(default_dir="snapshots")
    servicer = ShardServicer()
    app = build_server(settings, [binding(servicer, shard_pb2, shard_pb2_grpc, "ShardService")], service_label="shard")
    # The node registers the address it is reached at, known once the port is bound.
    node = servicer.node = ShardNode(
        ordinal,
        settings.advertise_address or app.address,
        Path(settings.data_dir) / "shards",
        lambda: open_blobstore(blob_config),  # opened by the node, retried while S3 is down
        etcd,
        Layout(settings.etcd_prefix),
        lease_ttl=settings.lease_ttl,
        snapshot_interval=settings.snapshot_interval,
        on_serving=app.set_serving,
        metrics=app.metrics,
        wal_warn_bytes=settings.wal_warn_bytes,
    )
    app.serving_at_start = False  # until the node's data is open
    app.on_start(lambda: asyncio.to_thread(node.start))
    app.on_drain(lambda: asyncio.to_thread(node.mark_stopping))
    app.on_close(lambda: asyncio.to_thread(node.close))
    app.on_close(etcd.close)
    return app
