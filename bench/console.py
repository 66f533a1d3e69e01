"""The console's first page in a real headless Chromium: navigation start to the last of 60 images loaded.

    python bench/console.py [--photos 90] [--loads 5]

Starts the local mesh (gateway included), fills a collection with ImageNet sample photos (kept
images, so the grid shows their thumbnails), opens the console on it and prints the time the
browser itself measures (Performance API) over several loads: median and range. The browser
tests reuse the helpers below (browser start, photos, timing).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "imagenet-sample"
COLLECTION = "photos"


def browser_unavailable() -> str | None:
    """Why the browser cannot run here (no Chromium, no Playwright), or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (Debian's chromium package; `make browser` installs it as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (requirements.txt)"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def photo_files(folder: Path, count: int) -> list[Path]:
    """`count` of the sample photos spread over the 600 classes (every n-th, in synset order)."""
    found = sorted(folder.glob("*.JPEG"))
    if len(found) < count:
        raise FileNotFoundError(f"fewer than {count} ImageNet sample photos in {folder}")
    step = len(found) / count
    return [found[int(i * step)] for i in range(count)]


def photo_record(path: Path, position: int, total: int) -> dict[str, Any]:
    """The JSON record of one photo: its synset as id, the image as a file, metadata a filter can split."""
    synset, _, name = path.stem.partition("_")
    return {"_id": synset, "_file": str(path), "name": name, "half": "first" if position < total // 2 else "second"}


def fill_collection(client: Any, photos: Sequence[Path], collection: str = COLLECTION) -> None:
    """A generic collection keeping the photos it is sent, with the photos inserted."""
    client.indexer.create_collection(collection, model="models/generic", image_keeping="sent", indexed_fields=["half"])
    summary = client.indexer.insert(
        collection, [photo_record(p, i, len(photos)) for i, p in enumerate(photos)], batch_size=32, timeout=300
    )
    if summary.failures:
        raise RuntimeError(f"photos not inserted: {summary.failures[:3]}")


def first_page_ms(page: Any, url: str) -> float:
    """Opens `url` (a collection's page) and returns the browser's own time from navigation start to
    the last image of the first page loaded (the console marks that moment)."""
    page.goto(url)
    page.wait_for_function("window.simmeshFirstPageMs !== undefined", timeout=30_000)
    return float(page.evaluate("window.simmeshFirstPageMs"))


def collection_url(gateway: str, collection: str = COLLECTION) -> str:
    return f"{gateway}/#/collections/{collection}"


def measure(browser: Any, url: str, loads: int) -> list[float]:
    """First-page times of `loads` loads, each in a fresh page of one browser context."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        times = []
        for _ in range(loads):
            page = context.new_page()
            times.append(first_page_ms(page, url))
            page.close()
        return times
    finally:
        context.close()


def first_page_times(gateway: str, loads: int = 5, collection: str = COLLECTION) -> list[float]:
    """The first page's load times (ms) of `collection` through the gateway at `gateway` (`http://host:port`),
    in a browser started for them; for other benchmarks that have their own mesh (a collection of 60+ images)."""
    with chromium() as browser:
        return measure(browser, collection_url(gateway, collection), loads)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=90, help="photos in the collection (60 or more)")
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--images", type=Path, default=PHOTOS, help="the ImageNet sample folder")
    args = parser.parse_args(argv)
    reason = browser_unavailable()
    if reason:
        print(f"skipped: {reason}")
        return 0
    from simmesh.devstack.mesh import Mesh, MeshConfig
    from simmesh_client import Client

    data = Path(tempfile.mkdtemp(prefix="simmesh-console-bench-"))
    try:
        mesh = Mesh(MeshConfig(data_dir=data / "mesh", ports="auto")).start(timeout=300)
        try:
            with Client(client_config(mesh)) as client:
                fill_collection(client, photo_files(args.images, args.photos))
            times = first_page_times(gateway_url(mesh), args.loads)
        finally:
            mesh.stop()
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print(
        f"console first page (60 images of {args.photos}), navigation start to last image loaded, {args.loads} loads: "
        f"median {statistics.median(times):.0f} ms, range {min(times):.0f}-{max(times):.0f} ms"
    )
    return 0


def client_config(mesh: Any) -> Any:
    """The SDK's settings for the mesh's four services."""
    from simmesh_client import ClientConfig

    services = ("embedder", "indexer", "catalog", "labeler")
    return ClientConfig(**{f"{name}_address": mesh.address_of(name) for name in services}, timeout=120)


def gateway_url(mesh: Any) -> str:
    """The local mesh's REST gateway, as the browser reaches it."""
    return f"http://{mesh.address_of('gateway')}"


if __name__ == "__main__":
    sys.exit(main())
