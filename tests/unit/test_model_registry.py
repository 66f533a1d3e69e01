"""The registry port: what the embedder's registry writes, a reader resolves through its API and reads back."""

from __future__ import annotations

import asyncio

import pytest
from support.models import tiny_embedding_model, tiny_manifest

from simmesh.embedder.registry import ModelRegistry
from simmesh.kit.blobstore import FileBlobStore
from simmesh.kit.errors import FailedPrecondition
from simmesh.kit.model_registry import RegistryReader
from simmesh_proto.v1 import embedder_pb2


class RegistryApi:
    """The two embedder calls a reader makes, answered by the registry itself."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    async def get_model(self, name: str, timeout: float | None = None) -> embedder_pb2.Model:
        return await asyncio.to_thread(self.registry.get_model, name.removeprefix("models/"))

    async def get_version(self, name: str, timeout: float | None = None) -> embedder_pb2.ModelVersion:
        return await asyncio.to_thread(self.registry.resolve, name)


@pytest.fixture
def registry(tmp_path) -> ModelRegistry:
    return ModelRegistry(FileBlobStore(tmp_path))


async def test_a_reader_gets_the_default_version_and_the_onnx_file_the_registry_stored(registry):
    first, second = tiny_embedding_model(seed=1), tiny_embedding_model(seed=2)
    registry.create_version("tiny", tiny_manifest(), first)
    registry.create_version("tiny", tiny_manifest(), second)
    reader = RegistryReader(RegistryApi(registry), registry.store)

    default = await reader.resolve("models/tiny")
    named = await reader.resolve("models/tiny/versions/2")

    assert default.name == "models/tiny/versions/1"
    assert named.name == "models/tiny/versions/2"
    assert await reader.onnx(default.name) == first
    assert await reader.onnx(named.name) == second


async def test_a_model_without_versions_is_refused_as_having_no_version(registry):
    registry.create_version("tiny", tiny_manifest(), tiny_embedding_model())
    registry.delete_version("tiny", 1)
    reader = RegistryReader(RegistryApi(registry), registry.store)

    with pytest.raises(FailedPrecondition) as refused:
        await reader.resolve("models/tiny")

    assert refused.value.reason == "MODEL_HAS_NO_VERSION"
