"""Kept images: each record's original image and a thumbnail in the object store, under
`images/{collection}/`, written before an insert is acknowledged, read back for BatchGetRecords
views and for re-embedding, deleted with their record and with their collection.

    images/{collection}/originals/{digest}          the bytes as sent (or as downloaded)
    images/{collection}/thumbnails/{digest}.jpg     JPEG, longest side 256

`digest` is a hash of the record's `_id`, so that any id makes a valid key. The keys belong to
the collection, not to one of its storages: re-embedding leaves them in place.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from collections.abc import Sequence
from datetime import timedelta

from PIL import Image as PILImage

from simmesh.imaging.decode import decode, to_rgb
from simmesh.imaging.source import ImageSource
from simmesh.kit.blobstore import BlobStore
from simmesh.kit.blobstore_s3 import S3BlobStore
from simmesh.kit.errors import NotFound, SimmeshError
from simmesh_proto.v1 import common_pb2, indexer_pb2

log = logging.getLogger("simmesh.indexer.kept_images")

ROOT = "images"
THUMBNAIL_SIDE = 256
THUMBNAIL_QUALITY = 85
# How long a presigned URL of an S3 store stays valid.
URI_LIFETIME = timedelta(hours=1)
# Blob writes or reads in flight at once for one batch.
CONCURRENCY = 16


def collection_prefix(collection_id: str) -> str:
    return f"{ROOT}/{collection_id}/"


def _digest(record_id: str) -> str:
    return hashlib.sha256(record_id.encode()).hexdigest()[:40]


def image_key(collection_id: str, record_id: str) -> str:
    return f"{ROOT}/{collection_id}/originals/{_digest(record_id)}"


def thumbnail_key(collection_id: str, record_id: str) -> str:
    return f"{ROOT}/{collection_id}/thumbnails/{_digest(record_id)}.jpg"


def thumbnail(data: bytes) -> bytes:
    """The image as a JPEG whose longest side is at most THUMBNAIL_SIDE."""
    image = to_rgb(decode(data))
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), PILImage.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=THUMBNAIL_QUALITY)
    return out.getvalue()


def keeps(collection: indexer_pb2.Collection, image: common_pb2.Image) -> bool:
    """Whether the collection keeps a record sent with `image`."""
    keeping = collection.image_keeping
    if keeping == indexer_pb2.IMAGE_KEEPING_NONE:
        return False
    if image.WhichOneof("source") in ("content", "base64", "uri"):
        return True
    return keeping == indexer_pb2.IMAGE_KEEPING_ALL


class KeptImages:
    """The kept images of every collection in one object store; with no store, nothing is kept."""

    def __init__(self, blobstore: BlobStore | None, source: ImageSource | None = None) -> None:
        self.blobstore = blobstore
        self.source = source or ImageSource(blobstore=blobstore)
        self._slots = asyncio.Semaphore(CONCURRENCY)

    async def keep(
        self, collection: indexer_pb2.Collection, records: Sequence[tuple[int, str, common_pb2.Image]]
    ) -> dict[int, SimmeshError]:
        """Stores the image and thumbnail of each `(position, record id, image)` the collection
        keeps; the errors of those that could not be stored, by position."""
        if self.blobstore is None:
            return {}
        collection_id = collection.name.split("/")[-1]
        wanted = [r for r in records if keeps(collection, r[2])]
        outcomes = await asyncio.gather(
            *(self._keep_one(collection_id, record_id, image) for _, record_id, image in wanted), return_exceptions=True
        )
        failures: dict[int, SimmeshError] = {}
        for (position, _, _), outcome in zip(wanted, outcomes):
            if isinstance(outcome, SimmeshError):
                failures[position] = outcome
            elif isinstance(outcome, BaseException):
                raise outcome
        return failures

    async def _keep_one(self, collection_id: str, record_id: str, image: common_pb2.Image) -> None:
        async with self._slots:
            await asyncio.to_thread(self._put, collection_id, record_id, image)

    def _put(self, collection_id: str, record_id: str, image: common_pb2.Image) -> None:
        assert self.blobstore is not None
        data = self.source.read(image)
        small = thumbnail(data)
        self.blobstore.put_bytes(image_key(collection_id, record_id), data)
        self.blobstore.put_bytes(thumbnail_key(collection_id, record_id), small, "image/jpeg")

    async def load(self, collection_id: str, record_id: str) -> bytes | None:
        """The record's kept image; None where none is kept."""
        if self.blobstore is None:
            return None
        try:
            async with self._slots:
                return await asyncio.to_thread(self.blobstore.get_bytes, image_key(collection_id, record_id))
        except NotFound:
            return None

    async def fill(self, collection_id: str, records: Sequence[indexer_pb2.Record], view: int) -> None:
        """Sets on each record what `view` asks for of its kept image (nothing where none is kept)."""
        if self.blobstore is None or view in (indexer_pb2.RECORD_VIEW_UNSPECIFIED, indexer_pb2.RECORD_VIEW_BASIC):
            return
        await asyncio.gather(*(self._fill_one(collection_id, record, view) for record in records))

    async def _fill_one(self, collection_id: str, record: indexer_pb2.Record, view: int) -> None:
        async with self._slots:
            await asyncio.to_thread(self._read_into, collection_id, record, view)

    def _read_into(self, collection_id: str, record: indexer_pb2.Record, view: int) -> None:
        assert self.blobstore is not None
        key, small_key = image_key(collection_id, record.id), thumbnail_key(collection_id, record.id)
        if not self.blobstore.exists(key):
            return
        record.image_uri, record.thumbnail_uri = self._link(key), self._link(small_key)
        try:
            if view in (indexer_pb2.RECORD_VIEW_THUMBNAIL, indexer_pb2.RECORD_VIEW_IMAGE):
                record.thumbnail = self.blobstore.get_bytes(small_key)
            if view == indexer_pb2.RECORD_VIEW_IMAGE:
                record.image = self.blobstore.get_bytes(key)
        except NotFound:  # deleted meanwhile
            record.ClearField("image_uri")
            record.ClearField("thumbnail_uri")

    def _link(self, key: str) -> str:
        """A presigned URL where the store is S3, the store's URI (`file://`) otherwise."""
        assert self.blobstore is not None
        if isinstance(self.blobstore, S3BlobStore):
            return self.blobstore.presigned_url(key, URI_LIFETIME)
        return self.blobstore.uri(key)

    async def forget(self, collection_id: str, record_ids: Sequence[str]) -> None:
        """Deletes the kept images of the records (deleted ones); a failure is logged, not raised:
        the record is gone either way, and a leftover image is only space."""
        if self.blobstore is None or not record_ids:
            return
        keys = [k for r in record_ids for k in (image_key(collection_id, r), thumbnail_key(collection_id, r))]
        try:
            await asyncio.to_thread(self._delete, keys)
        except SimmeshError as error:
            log.warning("could not delete %d kept images of collections/%s: %s", len(keys), collection_id, error)

    def _delete(self, keys: Sequence[str]) -> None:
        assert self.blobstore is not None
        for key in keys:
            self.blobstore.delete(key)

    async def forget_collection(self, collection_id: str) -> None:
        """Deletes every kept image of the collection (deleted); a failure is logged, not raised."""
        if self.blobstore is None:
            return
        try:
            await asyncio.to_thread(self.blobstore.delete_prefix, collection_prefix(collection_id))
        except SimmeshError as error:
            log.warning("could not delete the kept images of collections/%s: %s", collection_id, error)
