"""The embedder's models per tenant, on a real embedder with API keys kept in etcd: a model a tenant
imports is its own (another tenant naming it gets NOT_FOUND as for a missing model), built-in
models are every tenant's to use but only the default tenant's to change, and the mesh acting for
itself names models by their internal names."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import grpc
import numpy as np
import pytest
from fixtures.status import reason_of
from google.protobuf import field_mask_pb2
from support.auth_apps import BOOTSTRAP_KEY, INTERNAL_TOKEN, auth_settings
from support.models import png_bytes, tiny_embedding_model, tiny_manifest

from simmesh.embedder.app import build_app
from simmesh.kit.auth.etcd_store import EtcdKeyStore
from simmesh.kit.auth.identity import IDENTITY_HEADER, Identity, Role
from simmesh.kit.auth.keys import new_key
from simmesh_proto.v1 import common_pb2, embedder_pb2, embedder_pb2_grpc

# The stand-in of a built-in model: what `ensure_builtin_models` makes, a default-tenant model of
# source MODEL_SOURCE_BUILTIN (the real ones take seconds to export).
BUILTIN = "models/color"
# The dimension of each tenant's `mine`: who embedded with which model shows in the vectors.
DIMENSIONS = {"acme": 8, "beta": 5}


@dataclass(frozen=True)
class Mesh:
    stub: embedder_pb2_grpc.EmbedderServiceStub
    keys: dict[str, str]

    def auth(self, who: str) -> list[tuple[str, str]]:
        """Metadata of an admin key of tenant `who`, of the bootstrap key (`default`) or of the
        mesh acting for itself (`mesh`)."""
        key = {"default": BOOTSTRAP_KEY, "mesh": INTERNAL_TOKEN}.get(who) or self.keys[who]
        return [("authorization", f"Bearer {key}")]


async def _import(mesh: Mesh, who: str, model_id: str, dimension: int, **header) -> embedder_pb2.ModelVersion:
    onnx = tiny_embedding_model(dimension=dimension, seed=dimension)
    head = embedder_pb2.ImportModelRequest.Header(
        model_id=model_id, manifest=tiny_manifest(dimension=dimension), size_bytes=len(onnx), **header
    )
    parts = [embedder_pb2.ImportModelRequest(header=head), embedder_pb2.ImportModelRequest(chunk=onnx)]
    return await mesh.stub.ImportModel(iter(parts), metadata=mesh.auth(who))


async def _embed(mesh: Mesh, who: str, model: str, metadata=None) -> embedder_pb2.EmbedResponse:
    request = embedder_pb2.EmbedRequest(model=model, images=[common_pb2.Image(content=png_bytes((90, 30, 200)))])
    return await mesh.stub.Embed(request, metadata=metadata or mesh.auth(who))


async def _listed(mesh: Mesh, who: str) -> list[str]:
    reply = await mesh.stub.ListModels(embedder_pb2.ListModelsRequest(), metadata=mesh.auth(who))
    return [m.name for m in reply.models]


async def _refused(call: Callable[[], Awaitable[object]]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call()
    return caught.value


@pytest.fixture
async def mesh(tmp_path, etcd_server, etcd_client, etcd_prefix) -> AsyncIterator[Mesh]:
    """An embedder with API keys, a writer key each for tenants acme and beta, each tenant's own
    model `mine`, and a built-in model."""
    store = EtcdKeyStore(etcd_client, etcd_prefix)
    keys = {}
    for tenant in DIMENSIONS:
        keys[tenant], record = new_key(tenant, Role.ADMIN)
        store.put(record)
    store.close()
    app = await build_app(auth_settings("embedder", tmp_path, etcd_server.endpoint, etcd_prefix))
    await app.start()
    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            mesh = Mesh(embedder_pb2_grpc.EmbedderServiceStub(channel), keys)
            await _import(mesh, "default", "color", 3, source=embedder_pb2.MODEL_SOURCE_BUILTIN)
            for tenant, dimension in DIMENSIONS.items():
                version = await _import(mesh, tenant, "mine", dimension)
                assert version.name == "models/mine/versions/1" and version.loaded
            yield mesh
    finally:
        await app.stop(grace=0)


async def test_each_tenant_embeds_with_its_own_model_of_the_same_name(mesh):
    for tenant, dimension in DIMENSIONS.items():
        reply = await _embed(mesh, tenant, "models/mine")
        assert reply.model_version == "models/mine/versions/1" and reply.vectors.dimension == dimension
    stream = mesh.stub.StreamEmbed(
        iter([embedder_pb2.EmbedRequest(model="models/mine", images=[common_pb2.Image(content=png_bytes((1, 2, 3)))])]),
        metadata=mesh.auth("beta"),
    )
    assert [r.vectors.dimension async for r in stream] == [DIMENSIONS["beta"]]
    compared = await mesh.stub.Compare(
        embedder_pb2.CompareRequest(
            model="models/mine/versions/1",
            reference=common_pb2.Image(content=png_bytes((9, 9, 9))),
            candidates=[common_pb2.Image(content=png_bytes((9, 9, 9)))],
        ),
        metadata=mesh.auth("acme"),
    )
    assert compared.model_version == "models/mine/versions/1"
    np.testing.assert_allclose(compared.similarities, [1.0], atol=1e-5)


async def test_a_tenant_lists_its_own_models_and_the_built_in_ones(mesh):
    await _import(mesh, "acme", "extra", 4)
    # In the order of the internal ids: a tenant's own models, then the built-in ones after them.
    assert await _listed(mesh, "acme") == ["models/extra", "models/mine", "models/color"]
    assert await _listed(mesh, "beta") == ["models/mine", "models/color"]
    assert await _listed(mesh, "default") == ["models/color"]
    paged = await mesh.stub.ListModels(embedder_pb2.ListModelsRequest(page_size=2), metadata=mesh.auth("acme"))
    assert [m.name for m in paged.models] == ["models/extra", "models/mine"] and paged.next_page_token
    rest = await mesh.stub.ListModels(
        embedder_pb2.ListModelsRequest(page_size=2, page_token=paged.next_page_token), metadata=mesh.auth("acme")
    )
    assert [m.name for m in rest.models] == ["models/color"] and not rest.next_page_token


async def test_another_tenants_model_is_missing_to_a_tenant(mesh):
    await mesh.stub.DeleteModel(embedder_pb2.DeleteModelRequest(name="models/mine"), metadata=mesh.auth("beta"))
    for call in (
        lambda: mesh.stub.GetModel(embedder_pb2.GetModelRequest(name="models/mine"), metadata=mesh.auth("beta")),
        lambda: mesh.stub.DeleteModel(embedder_pb2.DeleteModelRequest(name="models/mine"), metadata=mesh.auth("beta")),
        lambda: _embed(mesh, "beta", "models/mine"),
    ):
        error = await _refused(call)
        assert error.code() == grpc.StatusCode.NOT_FOUND and reason_of(error) == "MODEL_NOT_FOUND"
        assert error.details() == "model `models/mine` does not exist"
    version = await _refused(
        lambda: mesh.stub.GetModelVersion(
            embedder_pb2.GetModelVersionRequest(name="models/mine/versions/1"), metadata=mesh.auth("beta")
        )
    )
    assert version.code() == grpc.StatusCode.NOT_FOUND
    model = await mesh.stub.GetModel(embedder_pb2.GetModelRequest(name="models/mine"), metadata=mesh.auth("acme"))
    assert model.name == "models/mine" and model.default_version == 1
    assert (await _embed(mesh, "acme", "models/mine")).vectors.dimension == DIMENSIONS["acme"]
    spelled = await _refused(lambda: _embed(mesh, "beta", "models/acme.mine"))
    assert spelled.code() == grpc.StatusCode.INVALID_ARGUMENT and reason_of(spelled) == "INVALID_MODEL_NAME"


async def test_built_in_models_are_shared_read_only(mesh):
    for tenant in DIMENSIONS:
        assert (await _embed(mesh, tenant, BUILTIN)).model_version == "models/color/versions/1"
        versions = await mesh.stub.ListModelVersions(
            embedder_pb2.ListModelVersionsRequest(parent=BUILTIN), metadata=mesh.auth(tenant)
        )
        assert [v.name for v in versions.versions] == ["models/color/versions/1"]
    version = f"{BUILTIN}/versions/1"
    changes = embedder_pb2.UpdateModelRequest(model=embedder_pb2.Model(name=BUILTIN, description="mine now"))
    for call in (
        lambda: mesh.stub.DeleteModel(embedder_pb2.DeleteModelRequest(name=BUILTIN), metadata=mesh.auth("acme")),
        lambda: mesh.stub.DeleteModelVersion(
            embedder_pb2.DeleteModelVersionRequest(name=version), metadata=mesh.auth("acme")
        ),
        lambda: mesh.stub.UpdateModel(changes, metadata=mesh.auth("beta")),
        lambda: _import(mesh, "beta", "color", 3),
    ):
        error = await _refused(call)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED and reason_of(error) == "BUILTIN_MODEL_READ_ONLY"
        assert "`models/color` is a built-in model, shared read-only" in error.details()
    model = await mesh.stub.GetModel(embedder_pb2.GetModelRequest(name=BUILTIN), metadata=mesh.auth("beta"))
    assert model.latest_version == 1 and model.description == ""
    assert await _listed(mesh, "beta") == ["models/mine", "models/color"]
    updated = await mesh.stub.UpdateModel(
        embedder_pb2.UpdateModelRequest(
            model=embedder_pb2.Model(name=BUILTIN, description="colours"),
            update_mask=field_mask_pb2.FieldMask(paths=["description"]),
        ),
        metadata=mesh.auth("default"),
    )
    assert updated.description == "colours"


async def test_the_mesh_names_models_by_internal_names_and_a_forwarded_caller_by_its_own(mesh):
    assert await _listed(mesh, "mesh") == ["models/acme.mine", "models/beta.mine", "models/color"]
    reply = await _embed(mesh, "mesh", "models/beta.mine")
    assert reply.model_version == "models/beta.mine/versions/1" and reply.vectors.dimension == DIMENSIONS["beta"]
    forwarded = [*mesh.auth("mesh"), (IDENTITY_HEADER, Identity("acme", "k1", Role.READER).header())]
    reply = await _embed(mesh, "acme", "models/mine", metadata=forwarded)
    assert reply.model_version == "models/mine/versions/1" and reply.vectors.dimension == DIMENSIONS["acme"]
    trained = await _import(mesh, "mesh", "acme.task1", 6)
    assert trained.name == "models/acme.task1/versions/1"
    assert await _listed(mesh, "acme") == ["models/mine", "models/task1", "models/color"]
