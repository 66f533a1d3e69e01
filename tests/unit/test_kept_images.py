"""Kept images in a file blob store: which records keep one, the thumbnail, the views
BatchGetRecords fills, and their deletion with records and collections."""

from __future__ import annotations

import base64
import io

from PIL import Image as PILImage
from support.apps import LOOPBACK_URLS
from support.models import png_bytes

from simmesh.imaging.limits import ImageLimits
from simmesh.imaging.source import ImageSource
from simmesh.indexer.router.kept_images import KeptImages, image_key, thumbnail
from simmesh.kit.blobstore import FileBlobStore
from simmesh_proto.v1 import common_pb2, indexer_pb2

COLLECTION = indexer_pb2.Collection(name="collections/shop")


def test_the_thumbnail_is_a_jpeg_whose_longest_side_is_256() -> None:
    small = PILImage.open(io.BytesIO(thumbnail(png_bytes((200, 10, 10), size=(1000, 400)))))
    assert small.format == "JPEG" and small.size == (256, 102)


def test_record_ids_of_any_shape_make_valid_distinct_keys() -> None:
    keys = {image_key("shop", record_id) for record_id in ("a", "a/b", "..", "é ü", "x" * 500)}
    assert len(keys) == 5 and all(key.startswith("images/shop/originals/") for key in keys)


async def test_sent_images_are_kept_url_ones_only_when_the_collection_asks(tmp_path) -> None:
    store = FileBlobStore(tmp_path)
    # Loopback allowed, so that the URL below is tried and fails as an unreachable server would.
    kept = KeptImages(store, ImageSource(ImageLimits(allowed_networks=LOOPBACK_URLS), store))
    data = png_bytes((10, 200, 10))
    records = [
        (0, "bytes", common_pb2.Image(content=data)),
        (1, "b64", common_pb2.Image(base64=base64.b64encode(data).decode())),
        (2, "url", common_pb2.Image(url="http://127.0.0.1:9/x.png")),
    ]
    assert await kept.keep(COLLECTION, records) == {}
    assert await kept.load("shop", "bytes") == data and await kept.load("shop", "b64") == data
    assert await kept.load("shop", "url") is None

    copies = indexer_pb2.Collection(name="collections/shop", image_keeping=indexer_pb2.IMAGE_KEEPING_ALL)
    failures = await kept.keep(copies, records[2:])
    assert failures[2].reason == "IMAGE_FETCH_FAILED"  # nothing listens there: the error is the item's

    none = indexer_pb2.Collection(name="collections/other", image_keeping=indexer_pb2.IMAGE_KEEPING_NONE)
    await kept.keep(none, records[:1])
    assert await kept.load("other", "bytes") is None


async def test_views_fill_uris_thumbnail_and_image(tmp_path) -> None:
    kept = KeptImages(FileBlobStore(tmp_path))
    data = png_bytes((10, 10, 200), size=(600, 300))
    await kept.keep(COLLECTION, [(0, "r1", common_pb2.Image(content=data))])

    def records() -> list[indexer_pb2.Record]:
        return [indexer_pb2.Record(id="r1"), indexer_pb2.Record(id="none")]

    basic = records()
    await kept.fill("shop", basic, indexer_pb2.RECORD_VIEW_BASIC)
    assert basic == records()

    uris = records()
    await kept.fill("shop", uris, indexer_pb2.RECORD_VIEW_IMAGE_URI)
    assert uris[0].image_uri.startswith("file://") and uris[0].thumbnail_uri.endswith(".jpg")
    assert not uris[0].image and not uris[0].thumbnail and uris[1] == indexer_pb2.Record(id="none")

    full = records()
    await kept.fill("shop", full, indexer_pb2.RECORD_VIEW_IMAGE)
    assert full[0].image == data
    assert PILImage.open(io.BytesIO(full[0].thumbnail)).size == (256, 128)


async def test_images_go_with_their_records_and_collection(tmp_path) -> None:
    store = FileBlobStore(tmp_path)
    kept = KeptImages(store)
    image = common_pb2.Image(content=png_bytes((1, 2, 3)))
    await kept.keep(COLLECTION, [(0, "r1", image), (1, "r2", image)])
    await kept.forget("shop", ["r1"])
    assert await kept.load("shop", "r1") is None and await kept.load("shop", "r2") is not None
    await kept.forget_collection("shop")
    assert list(store.list("images/")) == []


async def test_without_a_store_nothing_is_kept() -> None:
    kept = KeptImages(None)
    assert await kept.keep(COLLECTION, [(0, "r1", common_pb2.Image(content=b"x"))]) == {}
    assert await kept.load("shop", "r1") is None


async def test_a_url_image_to_keep_is_refused_when_it_leads_to_a_non_public_address(tmp_path) -> None:
    copies = indexer_pb2.Collection(name="collections/shop", image_keeping=indexer_pb2.IMAGE_KEEPING_ALL)
    failures = await KeptImages(FileBlobStore(tmp_path)).keep(
        copies, [(0, "url", common_pb2.Image(url="http://127.1/"))]
    )
    assert failures[0].reason == "IMAGE_URL_NOT_ALLOWED"
