"""ExportLabels: a project's labeled images as CSV or JSON, streamed in chunks.

CSV: a header `id,labels,state,url`, then one row per image with its labels joined by `;`.
JSON: one array of `{"id", "labels", "state", "url", "metadata"}` objects. Images come in id
order, read from the store a page at a time; chunks are about 64 KiB.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator

from simmesh.labeler.backends import Backends
from simmesh.labeler.records import Image, State

CSV = "text/csv"
JSON = "application/json"
CHUNK_BYTES = 64 * 1024
PAGE = 1000
CSV_HEADER = ("id", "labels", "state", "url")


def csv_rows(images: list[Image]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for image in images:
        writer.writerow((image.id, ";".join(image.labels), image.state.value, image.url))
    return buffer.getvalue()


def json_item(image: Image) -> str:
    return json.dumps(
        {
            "id": image.id,
            "labels": list(image.labels),
            "state": image.state.value,
            "url": image.url,
            "metadata": image.metadata,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


class Exporter:
    def __init__(self, backends: Backends) -> None:
        self.backends = backends

    async def export(self, project_id: str, content_type: str, include_suggested: bool) -> AsyncIterator[bytes]:
        """The export's bytes in chunks of CHUNK_BYTES (the last one shorter)."""
        backends = self.backends
        await backends.project(project_id)
        states = [State.LABELED, State.SUGGESTED] if include_suggested else [State.LABELED]
        buffer = bytearray((",".join(CSV_HEADER) + "\n" if content_type == CSV else "[").encode())
        count = 0
        token = ""
        while True:
            page = await backends.run(backends.store.list_images, project_id, PAGE, token, states=states)
            if content_type == CSV:
                buffer += csv_rows(page.items).encode()
            else:
                buffer += "".join(
                    ("\n" if count + i == 0 else ",\n") + json_item(image) for i, image in enumerate(page.items)
                ).encode()
            count += len(page.items)
            while len(buffer) >= CHUNK_BYTES:
                yield bytes(buffer[:CHUNK_BYTES])
                del buffer[:CHUNK_BYTES]
            token = page.next_page_token
            if not token:
                break
        if content_type == JSON:
            buffer += b"\n]\n" if count else b"]\n"
        yield bytes(buffer)
