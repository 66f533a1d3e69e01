"""DeployVersion: re-embed a collection with a task version, as a `deploy_version` operation that
follows the indexer's own ReembedCollection operation.

    operation = await deployer.start("tasks/shoes/versions/2", "collections/products")

The version is resolved and ReembedCollection is called before the operation starts, so a bad
version, an untrained task or the indexer's refusal (unknown collection, ...) fails the call
itself with the precise error. The job then polls the indexer's operation, mirrors its
ReembedMetadata and ends with its ReembedResponse or its error; cancelling it cancels the
indexer's operation too.

The indexer is called for the caller (the kit forwards its identity, also from the job, which
runs in the caller's context) with the caller's public collection and model names: the router
scopes them to the caller's tenant itself.
"""

from __future__ import annotations

import asyncio
import logging
import time

from simmesh.catalog.names import public_model_name
from simmesh.catalog.publish import settle
from simmesh.catalog.versions import Versions
from simmesh.kit import reasons
from simmesh.kit.errors import Internal, InvalidArgument, SimmeshError, Unavailable, from_status
from simmesh.kit.operations import JobContext, Operation, OperationManager
from simmesh.kit.peers import IndexerClient
from simmesh_proto.v1 import indexer_pb2

log = logging.getLogger(__name__)

KIND = "deploy_version"
# Seconds between polls of the indexer's operation.
POLL_INTERVAL = 0.5
# Seconds the indexer may stay unreachable before the deployment is given up as UNAVAILABLE.
UNREACHABLE_LIMIT = 120.0


class Deployer:
    """Starts and follows `deploy_version` operations."""

    def __init__(
        self,
        versions: Versions,
        indexer: IndexerClient,
        operations: OperationManager,
        *,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self.versions = versions
        self.indexer = indexer
        self.operations = operations
        self.poll_interval = poll_interval

    async def start(
        self, version_name: str, collection: str, timeout: float | None = None, allow_drop: bool = False
    ) -> Operation:
        if not collection:
            raise InvalidArgument(
                "collection is required: `collections/{collection}`",
                reason=reasons.MISSING_COLLECTION,
                field="collection",
            )
        version = await self.versions.resolve(version_name, "version")
        model = public_model_name(version.model_version)
        remote = await self.indexer.reembed(collection, model, timeout, allow_drop)
        metadata = indexer_pb2.ReembedMetadata()
        if not (remote.HasField("metadata") and remote.metadata.Unpack(metadata)):
            metadata = indexer_pb2.ReembedMetadata(collection=collection, model=model)

        async def job(ctx: JobContext) -> indexer_pb2.ReembedResponse:
            return await self._follow(ctx, remote)

        return self.operations.start(KIND, metadata, job)

    async def _follow(self, ctx: JobContext, remote: Operation) -> indexer_pb2.ReembedResponse:
        reported = remote.metadata.value
        unreachable_since: float | None = None
        current: Operation | None = remote
        try:
            while True:
                if current is None:
                    try:
                        current = await self.indexer.get_operation(remote.name)
                        unreachable_since = None
                    except Unavailable:
                        unreachable_since = unreachable_since or time.monotonic()
                        if time.monotonic() - unreachable_since > UNREACHABLE_LIMIT:
                            raise
                        await asyncio.sleep(self.poll_interval)
                        continue
                if current.HasField("metadata") and current.metadata.value != reported:
                    reported = current.metadata.value
                    metadata = indexer_pb2.ReembedMetadata()
                    if current.metadata.Unpack(metadata):
                        ctx.report(metadata)
                if current.done:
                    return _outcome(current)
                current = None
                await asyncio.sleep(self.poll_interval)
        except asyncio.CancelledError:
            await settle(self._cancel_remote(remote.name))
            raise

    async def _cancel_remote(self, name: str) -> None:
        try:
            await self.indexer.cancel_operation(name)
        except SimmeshError as error:
            log.warning("could not cancel the indexer's operation %s: %s", name, error.message)


def _outcome(operation: Operation) -> indexer_pb2.ReembedResponse:
    """The response of a done operation, or its error raised."""
    if operation.HasField("error"):
        raise from_status(operation.error)
    response = indexer_pb2.ReembedResponse()
    if operation.HasField("response") and not operation.response.Unpack(response):
        raise Internal(
            f"the indexer's operation {operation.name} answered {operation.response.type_url}, not a ReembedResponse",
            reason=reasons.UNEXPECTED_RESPONSE,
        )
    return response
