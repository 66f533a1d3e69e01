"""The OpenAPI 3.1 document of the gateway, generated from the route table and the message descriptors."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.rpc import status_pb2

from simmesh.gateway.routes import Route

NDJSON = "application/x-ndjson"
JSON = "application/json"
STATUS = status_pb2.Status.DESCRIPTOR.full_name

_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldDescriptor.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_SINT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "uint32"},
    FieldDescriptor.TYPE_FIXED32: {"type": "integer", "format": "uint32"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}
# Well-known types: their JSON form, not their fields.
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$"},
    "google.protobuf.FieldMask": {"type": "string", "description": "comma-separated field paths"},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "additionalProperties": True,
    },
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.Int32Value": {"type": "integer"},
    "google.protobuf.Int64Value": {"type": "string", "format": "int64"},
    "google.protobuf.UInt32Value": {"type": "integer"},
    "google.protobuf.UInt64Value": {"type": "string", "format": "uint64"},
    "google.protobuf.FloatValue": {"type": "number"},
    "google.protobuf.DoubleValue": {"type": "number"},
    "google.protobuf.BytesValue": {"type": "string", "contentEncoding": "base64"},
}


class _Schemas:
    """Component schemas of the messages and enums the routes reach."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def ref(self, descriptor: Descriptor | EnumDescriptor) -> dict[str, Any]:
        if descriptor.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[descriptor.full_name])
        if descriptor.full_name not in self.components:
            self.components[descriptor.full_name] = {}  # reserved first: messages may refer to themselves
            self.components[descriptor.full_name] = (
                {"type": "string", "enum": [v.name for v in descriptor.values]}
                if isinstance(descriptor, EnumDescriptor)
                else self._message(descriptor)
            )
        return {"$ref": f"#/components/schemas/{descriptor.full_name}"}

    def _message(self, descriptor: Descriptor) -> dict[str, Any]:
        properties = {field.json_name: self.field(field) for field in descriptor.fields}
        return {"type": "object", "properties": properties}

    def field(self, field: FieldDescriptor) -> dict[str, Any]:
        message = field.message_type
        if message is not None and message.GetOptions().map_entry:
            return {"type": "object", "additionalProperties": self._single(message.fields_by_name["value"])}
        single = self._single(field)
        return {"type": "array", "items": single} if field.is_repeated else single

    def _single(self, field: FieldDescriptor) -> dict[str, Any]:
        if field.message_type is not None:
            return self.ref(field.message_type)
        if field.enum_type is not None:
            return self.ref(field.enum_type)
        return dict(_SCALARS[field.type])


def _query_parameters(route: Route, schemas: _Schemas) -> list[dict[str, Any]]:
    """Top-level fields a GET/DELETE (or a route whose body is one field) takes in its query string."""
    if route.body == "*":
        return []
    bound = {path.split(".")[0] for path in route.template.fields}
    parameters = []
    for field in route.method.input_type.fields:
        if field.name in bound or field.name == route.body:
            continue
        parameters.append({"name": field.json_name, "in": "query", "required": False, "schema": schemas.field(field)})
    return parameters


def _operation(route: Route, schemas: _Schemas, operation_id: str) -> dict[str, Any]:
    service = route.method.containing_service
    _, in_path = route.template.openapi_path()
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}
        for name, description in in_path
    ] + _query_parameters(route, schemas)
    output = schemas.ref(route.method.output_type)
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "tags": [service.name],
        "summary": f"{service.full_name}.{route.method.name}",
        "parameters": parameters,
        "responses": {
            "200": {"description": "OK", "content": {NDJSON if route.server_streaming else JSON: {"schema": output}}},
            "default": {
                "description": "an error",
                "content": {JSON: {"schema": schemas.ref(status_pb2.Status.DESCRIPTOR)}},
            },
        },
    }
    if route.body:
        body_type = route.method.input_type
        if route.body != "*":
            body_type = body_type.fields_by_name[route.body].message_type
        content_type = NDJSON if route.client_streaming else JSON
        operation["requestBody"] = {"required": True, "content": {content_type: {"schema": schemas.ref(body_type)}}}
    return operation


def openapi_document(routes: list[Route]) -> dict[str, Any]:
    """The document: a path per route template, its operations, the message schemas and bearer auth."""
    schemas = _Schemas()
    schemas.ref(status_pb2.Status.DESCRIPTOR)
    paths: dict[str, dict[str, Any]] = {}
    used_ids: set[str] = set()
    for route in routes:
        operation_id = f"{route.method.containing_service.name}_{route.method.name}"
        suffix = 2
        while operation_id in used_ids:
            operation_id, suffix = f"{route.method.containing_service.name}_{route.method.name}_{suffix}", suffix + 1
        used_ids.add(operation_id)
        paths.setdefault(route.template.openapi_path()[0], {})[route.verb.lower()] = _operation(
            route, schemas, operation_id
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "simmesh REST/JSON gateway",
            "version": "v1",
            "description": "Generated from the google.api.http rules of simmesh's public protos; "
            "JSON is the standard protobuf mapping. Server streams answer newline-delimited JSON.",
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
