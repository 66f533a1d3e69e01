"""The README's curl cookbook, run as it is written against a local mesh's REST gateway: every
command answers as the README says, and what it writes is there afterwards through the SDK."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures.chaos import mesh_client

from simmesh.devstack.mesh import Mesh, MeshConfig

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"


@dataclass
class Answer:
    status: int
    body: str

    def json(self) -> dict:
        return json.loads(self.body)


def cookbook() -> list[str]:
    """The curl commands of the README's REST section, each with its continuation lines joined."""
    text = README.read_text()
    section = text[text.index("## REST/JSON gateway") :]
    start = section.index("```bash\n") + len("```bash\n")
    block = section[start : section.index("\n```", start)]
    commands: list[str] = []
    for line in block.splitlines():
        if line.startswith("curl "):
            commands.append(line)
        elif line.startswith("  ") and commands:
            commands[-1] += "\n" + line
    return commands


def run(command: str, gateway: str, operation: str) -> Answer:
    """`command` as a shell runs it, pointed at `gateway`, with its status line and body split."""
    command = command.replace("localhost:8080", gateway).replace("OPERATION_ID", operation)
    command = re.sub(r"\s+#.*$", "", command)  # a trailing comment
    shown = command.replace("curl -i ", "curl ", 1)
    wrapped = shown.replace("curl ", "curl -sS -w '\\n%{http_code}' ", 1)
    done = subprocess.run(["bash", "-c", wrapped], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{command}\n{done.stderr}"
    body, _, status = done.stdout.rpartition("\n")
    return Answer(int(status), body)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed: the cookbook is curl commands")
    config = MeshConfig(
        data_dir=tmp_path_factory.mktemp("cookbook") / "mesh",
        ports="auto",
        with_triton=False,
        shard_nodes=1,
        env={"SIMMESH_BUILTIN_MODELS": "false"},
    )
    with Mesh(config) as started:
        yield started


def test_the_readme_cookbook_runs_against_the_gateway(mesh: Mesh) -> None:
    gateway = mesh.addresses["gateway"]
    commands = cookbook()
    assert len(commands) >= 12, "the README's REST section lost its cookbook"
    answers: dict[str, Answer] = {}
    operation = ""
    for command in commands:
        answer = run(command, gateway, operation)
        answers[command] = answer
        if ":trainIndex" in command:
            operation = answer.json()["name"].removeprefix("operations/")
        if "/v1/operations/" in command:  # polled as the README says, until done
            deadline = time.monotonic() + 60
            while not answer.json().get("done") and time.monotonic() < deadline:
                time.sleep(0.3)
                answer = answers[command] = run(command, gateway, operation)
        if "no-such-collection" in command:
            continue
        assert answer.status == 200, f"{command}\n{answer.status} {answer.body}"

    by_path = {c.split("localhost:8080", 1)[1].split()[0].strip("'"): a for c, a in answers.items()}
    assert by_path["/healthz"].status == 200
    assert "/v1/collections/{collection}:search" in by_path["/openapi.json"].json()["paths"]
    assert by_path["/v1/collections/products/records:insert"].json()["insertedCount"] == 3

    # shoe-2 passes the filter; bag-1 costs too much; shoe-1 is the query itself
    [result] = by_path["/v1/collections/products:search"].json()["results"]
    assert [hit["id"] for hit in result["hits"]] == ["shoe-2"]

    listed = by_path["/v1/collections/products/records?pageSize=10"].json()["records"]
    assert sorted(r["id"] for r in listed) == ["bag-1", "shoe-1", "shoe-2"]
    fetched = by_path["/v1/collections/products/records:batchGet?ids=shoe-1&ids=bag-1&view=RECORD_VIEW_THUMBNAIL"]
    assert [r["id"] for r in fetched.json()["records"]] == ["shoe-1", "bag-1"]

    polled = by_path["/v1/operations/OPERATION_ID"].json()
    assert polled["done"] is True and "error" not in polled, polled
    assert by_path["/v1/similarityTypes"].json()["similarityTypes"][0]["name"] == "similarityTypes/same-product"

    missing = by_path["/v1/collections/no-such-collection"]
    assert missing.status == 404
    status = missing.json()
    assert status["code"] == 5 and "no-such-collection" in status["message"]
    assert any(detail.get("reason") for detail in status["details"])

    with mesh_client(mesh) as client:  # what the cookbook wrote is in the mesh
        collection = client.indexer.get_collection("products")
        assert collection.index.kind != 0
        assert len(client.indexer.get_records("products", ["shoe-1", "shoe-2", "bag-1"]).records) == 3
