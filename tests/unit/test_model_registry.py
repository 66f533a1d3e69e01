"""The registry port: what the embedder's registry writes, a reader resolves through its API and reads back;
model names public and internal (a tenant's models under ids prefixed with the tenant)."""

from __future__ import annotations

import asyncio

import pytest
from support.models import tiny_embedding_model, tiny_manifest

from simmesh.embedder.registry import ModelRegistry, runtime_key
from simmesh.embedder.triton_repository import check_model_name
from simmesh.kit.auth.identity import MESH, Identity, Role, reset_identity, set_identity
from simmesh.kit.blobstore import FileBlobStore
from simmesh.kit.errors import FailedPrecondition, InvalidArgument
from simmesh.kit.model_registry import (
    RegistryReader,
    caller_model_id,
    parse_model_name,
    parse_public_model_name,
    public_model_name,
)
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


@pytest.fixture
def as_acme():
    token = set_identity(Identity("acme", "k1", Role.WRITER))
    yield
    reset_identity(token)


def test_internal_names_are_accepted_behind_the_edge_and_refused_from_callers():
    assert parse_model_name("models/acme.task1/versions/2") == ("acme.task1", 2)
    assert parse_public_model_name("models/task1/versions/2") == ("task1", 2)
    for name in ("models/acme.task1", "models/a.b.c", "models/.x", "models/x."):
        with pytest.raises(InvalidArgument):
            parse_public_model_name(name)
    for name in ("models/a.b.c", "models/.x", "models/Acme.x"):
        with pytest.raises(InvalidArgument):
            parse_model_name(name)


def test_runtime_keys_are_triton_names_and_never_shared():
    ids = ["my-model", "my", "acme.my-model", "acme-my.model", "acme.my", "a.cme-my"]
    keys = [runtime_key(i, 1) for i in ids]
    assert keys[:3] == ["my_model_v1", "my_v1", "acme-my_model_v1"]
    assert len(set(keys)) == len(keys)
    assert all(check_model_name(k) for k in keys)


def test_a_tenant_reads_its_names_and_the_mesh_the_internal_ones(as_acme):
    assert public_model_name("models/acme.mine/versions/3") == "models/mine/versions/3"
    assert public_model_name("models/generic") == "models/generic"
    token = set_identity(MESH)
    try:
        assert public_model_name("models/acme.mine/versions/3") == "models/acme.mine/versions/3"
    finally:
        reset_identity(token)


async def test_a_tenants_reader_reads_its_own_files_and_the_built_in_ones(registry, as_acme):
    own, builtin, other = (tiny_embedding_model(seed=n) for n in (1, 2, 3))
    registry.create_version("acme.tiny", tiny_manifest(), own)
    registry.create_version("tiny", tiny_manifest(), other)
    registry.create_version("color", tiny_manifest(), builtin, source=embedder_pb2.MODEL_SOURCE_BUILTIN)
    reader = RegistryReader(RegistryApi(registry), registry.store)

    assert await reader.onnx("models/tiny/versions/1") == own
    assert await reader.onnx("models/color/versions/1") == builtin
    assert caller_model_id(registry.store, registry.layout, "plain") == "acme.plain"
    registry.delete_model("acme.tiny")
    assert caller_model_id(registry.store, registry.layout, "tiny") == "acme.tiny"
