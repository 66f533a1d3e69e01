"""Training image uploads: read (bytes, base64, URL or object URI), decode, store the bytes in
the object store under their SHA-256, then record them.

    uploads = TrainingImages(store, blobs, ImageSource(limits, blobs))
    image = await uploads.create(Upload(common_pb2.Image(content=data), groups=["groups/red"]))

The blob is written before the row, so a row never points at missing bytes; a blob whose row
was never written is harmless and is what the next upload of the same bytes finds. Bytes are
decoded fully, so an upload that would fail in training fails here (IMAGE_UNDECODABLE).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image as PilImage

from simmesh.catalog.names import GROUPS, parse_names
from simmesh.catalog.records import Json, NewTrainingImage, TrainingImage
from simmesh.catalog.store import CatalogStore
from simmesh.imaging.decode import decode
from simmesh.imaging.source import ImageSource
from simmesh.kit import reasons
from simmesh.kit.auth.tenancy import caller_tenant
from simmesh.kit.blobstore import DEFAULT_CONTENT_TYPE, BlobStore
from simmesh.kit.errors import InvalidArgument, SimmeshError
from simmesh_proto.v1 import common_pb2

log = logging.getLogger(__name__)

# Most items one BatchCreateTrainingImages call takes.
MAX_BATCH = 1000


def image_blob_key(sha256: str) -> str:
    """Where the bytes with this SHA-256 (hex) live in the object store."""
    return f"images/{sha256[:2]}/{sha256}"


@dataclass(frozen=True)
class Upload:
    """One image to store: its source, metadata, and the `groups/{group}` names to add it to.
    `field` names the request field it came from, for errors."""

    image: common_pb2.Image
    metadata: Json = field(default_factory=dict)
    groups: Sequence[str] = ()
    field: str = ""


class TrainingImages:
    """Creates and deletes training images: bytes in `blobs`, records in `store`."""

    def __init__(self, store: CatalogStore, blobs: BlobStore, source: ImageSource) -> None:
        self.store = store
        self.blobs = blobs
        self.source = source

    def close(self) -> None:
        self.source.close()

    async def create(self, upload: Upload) -> TrainingImage:
        prefix = f"{upload.field}." if upload.field else ""
        group_ids = parse_names(list(upload.groups), GROUPS, f"{prefix}groups")
        data = await self.source.resolve(upload.image, f"{prefix}image")
        return await asyncio.to_thread(self._store, data, upload, group_ids, f"{prefix}image")

    async def create_batch(self, uploads: Sequence[Upload]) -> list[TrainingImage | SimmeshError]:
        """Every upload in order: its image, or the error that failed it alone."""
        if len(uploads) > MAX_BATCH:
            raise InvalidArgument(
                f"a batch holds at most {MAX_BATCH} images, got {len(uploads)}",
                reason=reasons.BATCH_TOO_LARGE,
                field="requests",
            )

        async def one(upload: Upload) -> TrainingImage | SimmeshError:
            try:
                return await self.create(upload)
            except SimmeshError as error:
                return error

        return list(await asyncio.gather(*(one(upload) for upload in uploads)))

    async def delete(self, image_id: str) -> None:
        """Deletes the record, then the bytes unless the same bytes were uploaded again since."""
        image = await asyncio.to_thread(self.store.delete_training_image, image_id)
        await asyncio.to_thread(self._drop_blob, image)

    def _store(self, data: bytes, upload: Upload, group_ids: list[str], field: str) -> TrainingImage:
        picture = decode(data, self.source.limits, field)
        width, height = picture.size
        content_type = _content_type(data)
        sha256 = hashlib.sha256(data).hexdigest()
        key = image_blob_key(sha256)
        if not self.blobs.exists(key):
            self.blobs.put_bytes(key, data, content_type)
        source = upload.image.WhichOneof("source")
        record = NewTrainingImage(
            sha256=sha256,
            blob_key=key,
            uri=self.blobs.uri(key),
            source_url=upload.image.url if source == "url" else "",
            content_type=content_type,
            width=width,
            height=height,
            size_bytes=len(data),
            metadata=dict(upload.metadata),
        )
        image, _created = self.store.add_training_image(record, group_ids, tenant=caller_tenant())
        return image

    def _drop_blob(self, image: TrainingImage) -> None:
        try:
            if self.store.find_training_image(image.sha256) is None:
                self.blobs.delete(image.blob_key)
        except SimmeshError as error:  # the record is gone; a blob left behind is harmless
            log.warning("could not delete blob %s of a deleted image: %s", image.blob_key, error.message)


def _content_type(data: bytes) -> str:
    """The MIME type of encoded image bytes, from their header."""
    try:
        with PilImage.open(io.BytesIO(data)) as image:
            return PilImage.MIME.get(image.format or "", DEFAULT_CONTENT_TYPE)
    except Exception:
        return DEFAULT_CONTENT_TYPE
