"""The model registry: models and versions kept in the object store, written only here."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from typing import TypeVar

from google.protobuf import json_format, timestamp_pb2
from google.protobuf.message import Message

from simmesh.embedder.text_manifest import check_text_tower
from simmesh.embedder.text_tower import TextFiles
from simmesh.imaging.manifest import validate
from simmesh.kit import reasons
from simmesh.kit.auth.tenancy import SEPARATOR, owner, unscoped
from simmesh.kit.blobstore import BlobStore
from simmesh.kit.errors import FailedPrecondition, NotFound
from simmesh.kit.model_registry import RegistryLayout, default_number, parse_model_name, public_model_name
from simmesh.kit.names import check_id
from simmesh.kit.paging import clamp_page_size, decode_page_token, encode_page_token
from simmesh_proto.v1 import embedder_pb2

ModelManifest = embedder_pb2.ModelManifest
M = TypeVar("M", bound=Message)

MODEL_ID_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


def check_model_id(model_id: str, field: str = "model_id") -> str:
    """A public model id (what callers give); INVALID_ARGUMENT (INVALID_MODEL_ID) otherwise."""
    return check_id(
        model_id,
        MODEL_ID_RE,
        field,
        reason=reasons.INVALID_MODEL_ID,
        rule="1-63 lower-case letters, digits or '-', starting with a letter",
        subject="model id",
    )


def check_internal_model_id(model_id: str, field: str = "model_id") -> str:
    """A model id as the registry keeps it: a public id, for a tenant's model after its tenant
    (`acme.mine`)."""
    if owner(model_id):
        check_model_id(owner(model_id), field)
    check_model_id(unscoped(model_id), field)
    return model_id


def runtime_key(model_id: str, version: int) -> str:
    """The name a runtime (and Triton) knows a version by: letters, digits, `_` and `-` only. Ids
    hold no `_`, so `-` becomes `_` and the tenant's separator `-`: `my-model` version 2 is
    `my_model_v2`, tenant acme's `my-model` is `acme-my_model_v2`, and no two versions share a key."""
    return f"{model_id.replace('-', '_').replace(SEPARATOR, '-')}_v{version}"


def _now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


class ModelRegistry:
    """Models and versions in a blob store. Methods block: call them off the event loop.

    A version is written file by file with `version.json` last, and `model.json` is updated after
    it, so a crash half-way leaves at most an unlisted version folder that the next import of that
    model overwrites. A new version's manifest is checked against the graph: the named input and
    output exist, the input's shape agrees with the manifest's layout and size, and a trial run on a
    small batch gives outputs of the manifest's dimension.
    """

    def __init__(self, store: BlobStore, prefix: str = "models") -> None:
        self.store = store
        self.layout = RegistryLayout(prefix)
        self.prefix = self.layout.prefix

    # -- reading ----------------------------------------------------------------------------

    def get_model(self, model_id: str) -> embedder_pb2.Model:
        key = self.layout.model_key(model_id)
        return self._read(key, embedder_pb2.Model(), f"models/{model_id}", "model", reasons.MODEL_NOT_FOUND)

    def exists(self, model_id: str) -> bool:
        return self.store.exists(self.layout.model_key(model_id))

    def model_ids(self) -> Iterator[str]:
        for info in self.store.list(f"{self.prefix}/"):
            parts = info.key[len(self.prefix) + 1 :].split("/")
            if len(parts) == 2 and parts[1] == "model.json":
                yield parts[0]

    def list_models(
        self, page_size: int, page_token: str, keep: Callable[[str], bool] | None = None
    ) -> tuple[list[embedder_pb2.Model], str]:
        """A page of the models, in id order; only those whose id `keep` accepts when given."""
        size = clamp_page_size(page_size)
        position = decode_page_token(page_token, "models") or {}
        ids = sorted(i for i in self.model_ids() if i > position.get("after", "") and (keep is None or keep(i)))
        page = ids[:size]
        token = encode_page_token({"after": page[-1]}, "models") if len(ids) > size else ""
        return [self.get_model(i) for i in page], token

    def get_version(self, model_id: str, version: int) -> embedder_pb2.ModelVersion:
        model = self.get_model(model_id)
        number = version or default_number(model)
        key = self.layout.version_key(model_id, number)
        name = f"models/{model_id}/versions/{number}"
        return self._read(key, embedder_pb2.ModelVersion(), name, "version", reasons.MODEL_VERSION_NOT_FOUND)

    def _read(self, key: str, message: M, name: str, kind: str, reason: str) -> M:
        """The JSON record at `key` parsed into `message`; NotFound naming `name` (as the caller calls
        it) where it is missing."""
        try:
            data = self.store.get_bytes(key)
        except NotFound:
            shown = public_model_name(name)
            raise NotFound(f"{kind} `{shown}` does not exist", reason=reason, metadata={"model": shown}) from None
        return json_format.Parse(data, message)

    def resolve(self, name: str, field: str = "model") -> embedder_pb2.ModelVersion:
        """The version `name` means: its own, or the model's default."""
        model_id, version = parse_model_name(name, field)
        return self.get_version(model_id, version)

    def version_numbers(self, model_id: str) -> list[int]:
        numbers = set()
        for info in self.store.list(f"{self.layout.versions_folder(model_id)}/"):
            parts = info.key.split("/")
            if parts[-1] == "version.json":
                numbers.add(int(parts[-2]))
        return sorted(numbers)

    def list_versions(
        self, model_id: str, page_size: int, page_token: str
    ) -> tuple[list[embedder_pb2.ModelVersion], str]:
        self.get_model(model_id)
        size = clamp_page_size(page_size)
        position = decode_page_token(page_token, f"versions/{model_id}") or {}
        numbers = [n for n in self.version_numbers(model_id) if n > position.get("after", 0)]
        page = numbers[:size]
        token = encode_page_token({"after": page[-1]}, f"versions/{model_id}") if len(numbers) > size else ""
        return [self.get_version(model_id, n) for n in page], token

    def onnx_bytes(self, model_id: str, version: int) -> bytes:
        return self.store.get_bytes(self.layout.onnx_key(model_id, version))

    def text_files(self, model_id: str, version: int) -> TextFiles:
        """A dual encoder's text graph and tokenizer."""
        return TextFiles(
            onnx=self.store.get_bytes(self.layout.text_onnx_key(model_id, version)),
            tokenizer=self.store.get_bytes(self.layout.tokenizer_key(model_id, version)),
        )

    # -- writing ----------------------------------------------------------------------------

    def create_version(
        self,
        model_id: str,
        manifest: ModelManifest,
        onnx_model: bytes,
        *,
        description: str = "",
        source: embedder_pb2.ModelSource = embedder_pb2.MODEL_SOURCE_IMPORTED,
        set_default: bool = False,
        metrics: dict[str, float] | None = None,
        text: TextFiles | None = None,
    ) -> embedder_pb2.ModelVersion:
        """Checks the file (and a dual encoder's `text` files) against the manifest and stores them as
        the model's next version."""
        check_internal_model_id(model_id, "header.model_id")
        manifest = validate(manifest, onnx_model)
        check_text_tower(manifest, text)
        model = (
            self.get_model(model_id)
            if self.exists(model_id)
            else embedder_pb2.Model(name=f"models/{model_id}", source=source, create_time=_now())
        )
        number = model.latest_version + 1
        version = embedder_pb2.ModelVersion(
            name=f"models/{model_id}/versions/{number}",
            manifest=manifest,
            sha256=hashlib.sha256(onnx_model).hexdigest(),
            size_bytes=len(onnx_model),
            create_time=_now(),
            metrics=metrics or {},
        )
        self.store.put_bytes(
            self.layout.onnx_key(model_id, number), onnx_model, content_type="application/octet-stream"
        )
        if text is not None:
            version.text_sha256 = hashlib.sha256(text.onnx).hexdigest()
            version.tokenizer_sha256 = hashlib.sha256(text.tokenizer).hexdigest()
            self.store.put_bytes(
                self.layout.text_onnx_key(model_id, number), text.onnx, content_type="application/octet-stream"
            )
            self.store.put_bytes(
                self.layout.tokenizer_key(model_id, number), text.tokenizer, content_type="application/json"
            )
        self.store.put_bytes(self.layout.version_key(model_id, number), _json(version), content_type="application/json")
        model.latest_version = number
        if set_default or model.default_version == 0:
            model.default_version = number
        if description:
            model.description = description
        model.update_time.CopyFrom(_now())
        self._put_model(model)
        return version

    def _put_model(self, model: embedder_pb2.Model) -> None:
        model_id = model.name.split("/")[1]
        self.store.put_bytes(self.layout.model_key(model_id), _json(model), content_type="application/json")

    def update_model(
        self, model_id: str, *, description: str | None = None, default_version: int | None = None
    ) -> embedder_pb2.Model:
        model = self.get_model(model_id)
        if default_version is not None:
            if default_version not in self.version_numbers(model_id):
                raise NotFound(
                    f"version `{public_model_name(f'models/{model_id}/versions/{default_version}')}` does not exist",
                    reason=reasons.MODEL_VERSION_NOT_FOUND,
                    field="model.default_version",
                )
            model.default_version = default_version
        if description is not None:
            model.description = description
        model.update_time.CopyFrom(_now())
        self._put_model(model)
        return model

    def delete_model(self, model_id: str) -> list[int]:
        """Deletes the model and its versions; returns the version numbers it had."""
        self.get_model(model_id)
        numbers = self.version_numbers(model_id)
        self.store.delete(self.layout.model_key(model_id))
        self.store.delete_prefix(f"{self.prefix}/{model_id}/")
        return numbers

    def delete_version(self, model_id: str, version: int) -> None:
        model = self.get_model(model_id)
        numbers = self.version_numbers(model_id)
        if version not in numbers:
            raise NotFound(
                f"version `{public_model_name(f'models/{model_id}/versions/{version}')}` does not exist",
                reason=reasons.MODEL_VERSION_NOT_FOUND,
            )
        if version == model.default_version and len(numbers) > 1:
            raise FailedPrecondition(
                f"version {version} is the default of `{public_model_name(model.name)}`; choose another default first",
                reason=reasons.MODEL_VERSION_IS_DEFAULT,
            )
        self.store.delete_prefix(f"{self.layout.version_folder(model_id, version)}/")
        if len(numbers) == 1:
            model.default_version = 0
        model.update_time.CopyFrom(_now())
        self._put_model(model)


def _json(message) -> bytes:
    return json_format.MessageToJson(message, preserving_proto_field_name=True).encode()
