"""HTTP request -> request message: path fields, body and query parameters, faults named by field."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument

# Well-known message types whose JSON form is an object or any value: their query value is JSON text.
_JSON_VALUED = frozenset({"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"})
_TRUE, _FALSE = frozenset({"true", "1"}), frozenset({"false", "0"})
_INTEGERS = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_FIXED32,
    }
)
_UNKNOWN_FIELD = re.compile(r'has no field named "([^"]+)" at "([^"]+)"')
_PARSING = re.compile(r"Failed to parse (\S+) field: ")
_AT = re.compile(r" at (\S+?)\.?$")


def parse_json(raw: bytes, where: str) -> Any:
    """`raw` as JSON; a syntax error says where it is."""
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidArgument(f"{where} is not valid JSON: {error}", reason=reasons.MALFORMED_JSON) from None


def parse_message(value: Any, message: Message, where: str = "body") -> Message:
    """`value` (decoded JSON) into `message`; an unknown field or a value of the wrong type is named."""
    if not isinstance(value, dict):
        raise InvalidArgument(
            f"{where} must be a JSON object ({message.DESCRIPTOR.full_name}), got {type(value).__name__}",
            reason=reasons.MALFORMED_JSON,
        )
    try:
        return json_format.ParseDict(value, message)
    except json_format.ParseError as error:
        raise _field_error(str(error), message.DESCRIPTOR, where) from None


def _field_error(text: str, descriptor: Descriptor, where: str) -> InvalidArgument:
    """The ParseError of json_format as an InvalidArgument naming the field: its text is a chain of
    `Failed to parse <field> field: ` around the fault, which may end with ` at <Message.path[i]>`."""
    rest, names = text.splitlines()[0], []
    while prefix := _PARSING.match(rest):
        names.append(prefix.group(1))
        rest = rest[prefix.end() :]
    unknown = _UNKNOWN_FIELD.search(rest)
    if unknown:
        field = _relative(unknown.group(2), descriptor, unknown.group(1))
        return InvalidArgument(f"{where}: unknown field `{field}`", reason=reasons.UNKNOWN_FIELD, field=field)
    at = _AT.search(rest)
    field = _relative(at.group(1), descriptor, "") if at else ".".join(names)
    fault = (rest[: at.start()] if at else rest).rstrip(".")
    return InvalidArgument(
        f"{where}: invalid value for `{field}`: {fault}", reason=reasons.INVALID_FIELD_VALUE, field=field or None
    )


def _relative(location: str, descriptor: Descriptor, leaf: str) -> str:
    """`SearchRequest.query.k` -> `query.k` (the path below the request), plus `leaf`."""
    parts = location.split(".")
    if parts and parts[0] == descriptor.name:
        parts = parts[1:]
    return ".".join([*parts, leaf] if leaf else parts)


def field_at(descriptor: Descriptor, path: str) -> FieldDescriptor:
    """The field a dotted path names (by proto or JSON names)."""
    field: FieldDescriptor | None = None
    current: Descriptor | None = descriptor
    for part in path.split("."):
        if current is None:
            raise KeyError(path)
        field = current.fields_by_name.get(part) or _by_json_name(current, part)
        if field is None:
            raise KeyError(path)
        current = field.message_type
    if field is None:
        raise KeyError(path)
    return field


def _by_json_name(descriptor: Descriptor, name: str) -> FieldDescriptor | None:
    return next((f for f in descriptor.fields if f.json_name == name), None)


def set_path_fields(message: Message, bound: Mapping[str, str]) -> None:
    """Set each field the URL path binds (a string field, maybe nested: `collection.name`)."""
    for path, value in bound.items():
        *parents, leaf = path.split(".")
        target = message
        for name in parents:
            target = getattr(target, name)
        setattr(target, leaf, value)


def query_dict(descriptor: Descriptor, params: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Query parameters as the JSON object of `descriptor`: `a.b=1` nests, repeated fields collect every
    value, bools and numbers are typed by the field; an unknown parameter is refused by name."""
    result: dict[str, Any] = {}
    for key, raw in params:
        try:
            field = field_at(descriptor, key)
        except KeyError:
            raise InvalidArgument(
                f"query parameter `{key}` is not a field of {descriptor.full_name}",
                reason=reasons.UNKNOWN_FIELD,
                field=key,
            ) from None
        *parents, leaf = key.split(".")
        target = result
        for name in parents:
            target = target.setdefault(name, {})
        value = _query_value(field, raw, key)
        if field.is_repeated and not _is_map(field):
            target.setdefault(leaf, []).append(value)
        else:
            target[leaf] = value
    return result


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _query_value(field: FieldDescriptor, raw: str, key: str) -> Any:
    if field.type == FieldDescriptor.TYPE_BOOL:
        lowered = raw.lower()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
        raise InvalidArgument(
            f"query parameter `{key}` must be true or false, got {raw!r}", reason=reasons.INVALID_FIELD_VALUE, field=key
        )
    if field.type in _INTEGERS:
        try:
            return int(raw)
        except ValueError:
            raise InvalidArgument(
                f"query parameter `{key}` must be an integer, got {raw!r}",
                reason=reasons.INVALID_FIELD_VALUE,
                field=key,
            ) from None
    if field.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        try:
            return float(raw)
        except ValueError:
            raise InvalidArgument(
                f"query parameter `{key}` must be a number, got {raw!r}", reason=reasons.INVALID_FIELD_VALUE, field=key
            ) from None
    if field.enum_type is not None and raw.lstrip("-").isdigit():
        return int(raw)  # an enum by number; by name it stays the name
    if field.message_type is not None and field.message_type.full_name in _JSON_VALUED:
        return parse_json(raw.encode(), f"query parameter `{key}`")
    return raw  # strings, bytes (base64), enums by name, int64 (decimal text), Timestamp, Duration, FieldMask


def unary_request(
    descriptor: Descriptor, body_field: str, bound: Mapping[str, str], body: Any, params: Sequence[tuple[str, str]]
) -> Message:
    """One request message from the path's fields, the decoded body and the query parameters."""
    request_class = _message_class(descriptor)
    if body_field == "*":
        if params:
            raise InvalidArgument(
                f"query parameter `{params[0][0]}` is not accepted: this route takes every field in the body",
                reason=reasons.UNKNOWN_FIELD,
                field=params[0][0],
            )
        request = parse_message(body if body is not None else {}, request_class())
    else:
        request = parse_message(query_dict(descriptor, params), request_class(), "query")
        if body_field:
            part = parse_message(body if body is not None else {}, getattr(request, body_field).__class__())
            getattr(request, body_field).CopyFrom(part)
    set_path_fields(request, bound)
    return request


def _message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


def stream_requests(descriptor: Descriptor, bound: Mapping[str, str], raw: bytes) -> list[Message]:
    """Newline-delimited JSON, one message per line (blank lines skipped); each gets the path's fields."""
    messages = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        where = f"body line {number}"
        message = parse_message(parse_json(line, where), _message_class(descriptor)(), where)
        set_path_fields(message, bound)
        messages.append(message)
    return messages
