"""The web console in a real headless Chromium against the local mesh: a collection of ImageNet sample
photos browsed, searched by click, by upload and under a filter; three label suggestions reviewed with
the keyboard and read back through the SDK; the operations page. Each page's screenshot goes to
docs/screenshots/."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import struct_pb2
from PIL import Image as PILImage
from support.bench import bench_module
from support.recording_http import RecordingServer

from simmesh.devstack.mesh import Mesh, MeshConfig
from simmesh_client import Client
from simmesh_proto.v1 import common_pb2, indexer_pb2, labeler_pb2

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

console = bench_module("console")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PHOTO_COUNT = 90
PROJECT = "animals"
# Labels by synset range (ImageNet's class order keeps kinds together): 7 labeled and 3 pool images each.
KINDS = {"snake": ("n0172", "n0176"), "bird": ("n0151", "n0162"), "dog": ("n0208", "n0212")}
LABELED, POOL = 7, 3
# A DataTransfer holding one JPEG file made of base64 bytes, as a drag and drop from the desktop carries.
DROPPED_FILE = """b64 => {
    const transfer = new DataTransfer();
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], "dropped.jpg", { type: "image/jpeg" }));
    return transfer;
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = console.browser_unavailable()
    if reason:
        pytest.skip(reason)
    with console.chromium() as started:
        yield started


@pytest.fixture(scope="module")
def photos(imagenet_sample_dir: Path) -> list[Path]:
    try:
        spread = console.photo_files(imagenet_sample_dir, PHOTO_COUNT)
    except FileNotFoundError as error:
        pytest.skip(str(error))
    return sorted(set(spread) | {p for files in kind_photos(imagenet_sample_dir).values() for p in files})


def kind_photos(folder: Path) -> dict[str, list[Path]]:
    found = sorted(folder.glob("*.JPEG"))
    return {
        kind: [p for p in found if low <= p.name[:5] < high][: LABELED + POOL] for kind, (low, high) in KINDS.items()
    }


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory, photos: list[Path], imagenet_sample_dir: Path) -> Iterator[Any]:
    # Loopback image URLs allowed: the URL records and URL searches fetch from a server of the test's.
    config = MeshConfig(data_dir=tmp_path_factory.mktemp("console") / "mesh", ports="auto", allow_loopback_urls=True)
    started = Mesh(config).start(timeout=300)
    try:
        with Client(console.client_config(started)) as client:
            console.fill_collection(client, photos)
            add_project(client, kind_photos(imagenet_sample_dir))
        yield started
    finally:
        started.stop()


def add_project(client: Client, kinds: dict[str, list[Path]]) -> None:
    """A project whose images name their photo's record in the collection (where the console finds the
    picture): LABELED of each kind labeled, POOL of each kind in the pool."""
    client.labeler.create_project(PROJECT, "models/generic", display_name="Animals")
    images = []
    for kind, files in kinds.items():
        for position, path in enumerate(files):
            synset = path.name.split("_", 1)[0]
            metadata = struct_pb2.Struct()
            metadata.update({"record": f"collections/{console.COLLECTION}/records/{synset}"})
            images.append(
                labeler_pb2.ImageInput(
                    id=synset,
                    image=common_pb2.Image(content=path.read_bytes()),
                    labels=[kind] if position < LABELED else [],
                    metadata=metadata,
                )
            )
    answer = client.labeler.rpc.AddImages(labeler_pb2.AddImagesRequest(project=f"projects/{PROJECT}", images=images))
    assert not answer.errors, answer.errors


@pytest.fixture()
def page(browser: Any, mesh: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=console.VIEWPORT, base_url=console.gateway_url(mesh))
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


def screenshot(page: Any, name: str) -> None:
    """docs/screenshots/{name}.png of the viewport, in a 128-colour palette to keep the file small."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = PILImage.open(io.BytesIO(page.screenshot())).convert("RGB")
    shot.quantize(colors=128, method=PILImage.Quantize.FASTOCTREE).save(SCREENSHOTS / f"{name}.png", optimize=True)


def loaded_images(page: Any, selector: str) -> list[int]:
    """naturalWidth of every image under `selector` (0 for one that did not load)."""
    return page.eval_on_selector_all(f"{selector} img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")


def wait_for_images(page: Any, selector: str) -> None:
    """Until every image under `selector` has loaded (a broken one never does)."""
    page.wait_for_function(
        f"[...document.querySelectorAll('{selector} img')].every(i => i.complete && i.naturalWidth > 0)"
    )


def grid_ids(page: Any) -> list[str]:
    return page.eval_on_selector_all("#grid .tile", "tiles => tiles.map(t => t.dataset.id)")


def test_the_grid_shows_a_page_of_photos_and_a_click_shows_the_neighbours_images(
    page: Any, mesh: Any, photos: list[Path]
) -> None:
    ms = console.first_page_ms(page, console.collection_url(""))
    assert ms > 0
    assert len(grid_ids(page)) == 60, "a page holds 60 records"
    widths = loaded_images(page, "#grid")
    assert len(widths) == 60 and all(w > 0 for w in widths), "every photo of the first page is shown"
    screenshot(page, "collections-grid")

    first = grid_ids(page)[0]
    page.click(f'#grid .tile[data-id="{first}"]')
    page.wait_for_selector("#hits .tile")
    wait_for_images(page, "#hits")
    hits = page.eval_on_selector_all("#hits .tile", "tiles => tiles.map(t => t.dataset.id)")
    assert len(hits) == 12 and first not in hits, "k=12 neighbours, the query record left out"
    captions = page.eval_on_selector_all("#hits figcaption", "c => c.map(x => x.textContent)")
    assert all(re.search(r"\d\.\d{3}$", c) for c in captions), f"each neighbour shows its score: {captions}"
    screenshot(page, "search-results")

    first_page = grid_ids(page)
    page.click("#next-page")
    page.wait_for_function(f"document.querySelector('#grid .tile')?.dataset.id !== {first_page[0]!r}")
    wait_for_images(page, "#grid")
    assert len(grid_ids(page)) == len(photos) - 60 and not set(grid_ids(page)) & set(first_page), "the next page"

    page.goto("/#/")
    page.wait_for_selector("#collections tbody tr")
    page.wait_for_function("[...document.querySelectorAll('#collections td')].some(td => td.textContent === 'EXACT')")
    rows = page.eval_on_selector_all("#collections tbody tr", "rows => rows.map(r => r.innerText.split('\\t'))")
    assert [console.COLLECTION, "—", "models/generic", str(len(photos)), "EXACT"] in rows


def test_uploading_or_dropping_a_photo_shows_similar_photos(page: Any, mesh: Any, photos: list[Path]) -> None:
    console.first_page_ms(page, console.collection_url(""))
    page.set_input_files("#search-file", str(photos[5]))
    page.wait_for_selector("#hits .tile")
    wait_for_images(page, "#hits")
    hits = page.eval_on_selector_all("#hits .tile", "tiles => tiles.map(t => t.dataset.id)")
    assert hits[0] == photos[5].name.split("_", 1)[0], "the uploaded photo finds itself first"

    dropped = page.evaluate_handle(DROPPED_FILE, base64.b64encode(photos[7].read_bytes()).decode())
    page.dispatch_event("#drop", "drop", {"dataTransfer": dropped})
    page.wait_for_function(f"document.querySelector('#hits .tile')?.dataset.id === {photos[7].name.split('_', 1)[0]!r}")


def test_an_api_error_shows_its_message_and_reason(page: Any, mesh: Any) -> None:
    page.goto("/#/collections/no-such-collection")
    page.wait_for_selector(".error")
    assert "(COLLECTION_NOT_FOUND)" in page.inner_text(".error")


def test_a_filter_changes_the_grid_and_the_search(page: Any, mesh: Any, photos: list[Path]) -> None:
    console.first_page_ms(page, console.collection_url(""))
    second_half = {console.photo_record(p, i, len(photos))["_id"] for i, p in enumerate(photos)} - {
        console.photo_record(p, i, len(photos))["_id"] for i, p in enumerate(photos) if i < len(photos) // 2
    }
    before = grid_ids(page)
    page.fill("#filter", '{"half": "second"}')
    page.click("#apply-filter")
    page.wait_for_function(f"document.querySelector('#grid .tile')?.dataset.id !== {before[0]!r}")
    after = grid_ids(page)
    assert after and set(after) <= second_half and set(after) != set(before)
    page.click(f'#grid .tile[data-id="{after[0]}"]')
    page.wait_for_selector("#hits .tile")
    hits = page.eval_on_selector_all("#hits .tile", "tiles => tiles.map(t => t.dataset.id)")
    assert hits and set(hits) <= second_half, "the search keeps to the filter too"

    page.fill("#filter", '{"half": ')
    page.click("#apply-filter")
    page.wait_for_selector(".error")


def test_three_suggestions_reviewed_with_the_keyboard_are_saved(page: Any, mesh: Any) -> None:
    page.goto(f"/#/projects/{PROJECT}")
    page.wait_for_selector("#gallery .tile")
    counts = page.eval_on_selector_all("#labels tbody tr", "rows => rows.map(r => r.innerText.split('\\t'))")
    assert sorted(counts) == sorted([kind, str(LABELED), "0"] for kind in KINDS), "each label with its count"
    wait_for_images(page, "#gallery")
    assert page.eval_on_selector_all("#gallery img", "imgs => imgs.length") == LABELED, "a label's images"

    page.goto(f"/#/projects/{PROJECT}/review")
    page.click("#suggest-batch")
    page.wait_for_selector("#review .card")
    cards = page.eval_on_selector_all("#review .card", "cards => cards.map(c => c.dataset.id)")
    assert len(cards) >= 3
    wait_for_images(page, "#review")
    suggested = page.eval_on_selector_all("#review .card .labels", "spans => spans.map(s => s.textContent.split(', '))")
    voters = page.eval_on_selector_all("#review .card:first-child .voters .tile", "t => t.length")
    assert voters > 0, "the neighbours that voted are shown"

    page.keyboard.press("a")
    page.keyboard.press("a")
    page.keyboard.press("c")
    page.keyboard.type("cat")
    page.keyboard.press("Enter")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "labeling-review")
    page.keyboard.press("s")
    page.wait_for_selector("#review-status[data-saved='3']")

    with Client(console.client_config(mesh)) as client:
        images = {i.id: i for i in client.labeler.images(PROJECT)}
    assert [list(images[i].labels) for i in cards[:3]] == [suggested[0], suggested[1], ["cat"]]
    assert {images[i].state for i in cards[:3]} == {labeler_pb2.IMAGE_STATE_LABELED}

    page.goto(f"/#/projects/{PROJECT}/evaluate")
    page.wait_for_selector("#sweep-plot circle")
    assert page.eval_on_selector_all("#sweep tbody tr", "rows => rows.length") == 25
    screenshot(page, "labeling-evaluate")


def test_the_operations_page_follows_an_index_build(page: Any, mesh: Any) -> None:
    with Client(console.client_config(mesh)) as client:
        spec = indexer_pb2.IndexSpec(kind=indexer_pb2.INDEX_KIND_IVF_FLAT, nlist=4, min_train_vectors=64)
        operation = client.indexer.train_index(console.COLLECTION, spec, wait=False)
    page.goto("/#/operations")
    row = f'#operations tr[data-name="{operation.name}"]'
    page.wait_for_selector(row)
    page.wait_for_function(f"document.querySelector('{row} td:last-child').textContent !== 'running'", timeout=60_000)
    assert page.inner_text(f"{row} td:last-child") == "done"
    screenshot(page, "operations")


def test_with_auth_on_the_console_asks_once_for_a_key_and_keeps_it_out_of_urls(browser: Any, tmp_path: Path) -> None:
    token = "console-test-token"
    secured = Mesh(MeshConfig(data_dir=tmp_path / "mesh", ports="auto", auth_token=token)).start(timeout=300)
    try:
        context = browser.new_context(viewport=console.VIEWPORT, base_url=console.gateway_url(secured))
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto("/#/")
        page.wait_for_selector("#key-dialog[open]")
        assert "(TOKEN_MISSING)" in page.inner_text(".error"), "the API's message and reason are shown"
        assert "enter an API key" in page.inner_text("#key-why")
        page.fill("#key-input", token)
        page.press("#key-input", "Enter")
        page.wait_for_selector("#collections tbody tr")
        assert page.inner_text("#collections tbody") == "No collections yet."
        page.goto("/#/operations")
        page.wait_for_selector("#operations tbody tr")
        assert not page.query_selector(".error"), "the key is kept for the session"
        assert page.evaluate("sessionStorage.getItem('simmesh.key')") == token
        assert not [url for url in requests if token in url], "the key never goes into a URL"
        context.close()
    finally:
        secured.stop()


@pytest.fixture(scope="module")
def shapes(mesh: Any) -> str:
    """A collection embedded by a tiny dual encoder (trained here) of coloured shapes: one that embeds text."""
    from support.dual_encoder import CLASSES, shape_png, train_tiny_dual_encoder

    trained = train_tiny_dual_encoder()
    with Client(console.client_config(mesh)) as client:
        client.embedder.import_model(
            "tiny-clip", trained.image_onnx, trained.manifest(), text_onnx=trained.text_onnx,
            tokenizer=trained.tokenizer_json,
        )  # fmt: skip
        client.indexer.create_collection("shapes", model="tiny-clip", image_keeping="sent")
        records = [
            {"_id": f"{color}-{shape}-{n}", "_base64": base64.b64encode(shape_png(color, shape, seed=n)).decode()}
            for color, shape in CLASSES
            for n in range(3)
        ]
        assert not client.indexer.insert("shapes", records).failures
    return "shapes"


def test_a_text_query_finds_the_shapes_it_describes_where_the_model_embeds_text(page: Any, shapes: str) -> None:
    console.first_page_ms(page, console.collection_url("", console.COLLECTION))
    assert not page.is_visible("#search-text"), "no text box for an image-only model"

    console.first_page_ms(page, console.collection_url("", shapes))
    page.fill("#search-text", "a red circle")
    page.press("#search-text", "Enter")
    page.wait_for_selector("#hits .tile")
    hits = page.eval_on_selector_all("#hits .tile", "tiles => tiles.map(t => t.dataset.id)")
    assert len(hits) >= 3 and all(h.startswith("red-circle-") for h in hits[:3]), f"the three red circles first: {hits}"


@pytest.fixture(scope="module")
def linked(mesh: Any, photos: list[Path]) -> Iterator[list[str]]:
    """A collection of URL records (images not kept) served by a loopback image server; the URLs."""
    with RecordingServer() as server:
        chosen = photos[:6]
        for path in chosen:
            server.answers[f"/{path.name}"] = (200, {"Content-Type": "image/jpeg"}, path.read_bytes())
        urls = [f"{server.url}/{path.name}" for path in chosen]
        with Client(console.client_config(mesh)) as client:
            client.indexer.create_collection("linked", model="models/generic", image_keeping="sent")
            records = [{"_id": f"url-{i}", "_url": url} for i, url in enumerate(urls)]
            assert not client.indexer.insert("linked", records).failures
        yield urls


def test_url_records_show_their_urls_and_a_pasted_url_searches(page: Any, linked: list[str]) -> None:
    urls = linked
    console.first_page_ms(page, console.collection_url("", "linked"))
    sources = page.eval_on_selector_all("#grid img", "imgs => imgs.map(i => i.src)")
    assert sorted(sources) == sorted(urls), "a record without a kept image shows its _url"
    assert all(w > 0 for w in loaded_images(page, "#grid"))

    page.fill("#search-url", urls[2])
    page.press("#search-url", "Enter")
    page.wait_for_selector("#hits .tile")
    hits = page.eval_on_selector_all("#hits .tile", "tiles => tiles.map(t => t.dataset.id)")
    assert hits[0] == "url-2", "the pasted URL finds its own record first"
