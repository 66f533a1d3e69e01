"""An embedder asked to fetch loopback URLs refuses them, and its own test servers show nothing arrived."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
from fixtures.status import reason_of
from support.apps import started_embedder
from support.models import png_bytes, tiny_embedding_model, tiny_manifest
from support.recording_http import RecordingServer

from simmesh_proto.v1 import common_pb2, embedder_pb2, embedder_pb2_grpc

REFUSED = (grpc.StatusCode.INVALID_ARGUMENT.value[0], "IMAGE_URL_NOT_ALLOWED")


async def test_loopback_urls_and_a_redirect_into_loopback_are_refused_before_any_request(tmp_path: Path) -> None:
    image = png_bytes((200, 30, 30), size=(32, 32))
    with RecordingServer() as allowed, RecordingServer() as target:
        target.answers["/a.png"] = (200, {"Content-Type": "image/png"}, image)
        allowed.answers["/a.png"] = (200, {"Content-Type": "image/png"}, image)
        allowed.answers["/hop"] = (302, {"Location": f"{target.url}/a.png"}, b"")
        # The owner allows the first server's port only; the target's port stays refused.
        app = await started_embedder(tmp_path, url_allowed_networks=(f"127.0.0.1/32:{allowed.port}",))
        try:
            async with grpc.aio.insecure_channel(app.address) as channel:
                stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
                header = embedder_pb2.ImportModelRequest.Header(model_id="tiny", manifest=tiny_manifest())
                await stub.ImportModel(
                    iter(
                        [
                            embedder_pb2.ImportModelRequest(header=header),
                            embedder_pb2.ImportModelRequest(chunk=tiny_embedding_model()),
                        ]
                    )
                )
                urls = [
                    f"http://127.0.0.1:{target.port}/a.png",
                    f"http://[::1]:{target.port}/a.png",
                    f"http://2130706433:{target.port}/a.png",
                    f"{allowed.url}/hop",  # redirects to the target
                    f"{allowed.url}/a.png",
                ]
                reply = await stub.Embed(
                    embedder_pb2.EmbedRequest(model="models/tiny", images=[common_pb2.Image(url=url) for url in urls])
                )
        finally:
            await app.stop(grace=0)
    errors = {error.index: error.status for error in reply.errors}
    assert {index: (status.code, reason_of(status)) for index, status in errors.items()} == dict.fromkeys(
        range(4), REFUSED
    )
    rows = np.frombuffer(reply.vectors.data, dtype="<f4").reshape(reply.vectors.count, reply.vectors.dimension)
    assert np.abs(rows[4]).sum() > 0  # the allowed server's own image is fetched and embedded
    assert target.requests == []  # nothing reached the refused target, directly or through the redirect
    assert sorted(path for path, _ in allowed.requests) == ["/a.png", "/hop"]
    # The redirect's refusal names the URL asked for, not where the redirect led.
    assert str(target.port) not in errors[3].message and "/hop" in errors[3].message
