"""Argument types and output helpers the verbs share."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2
from google.protobuf.message import Message

from simmesh_client.cli import Context
from simmesh_client.enums import enum_value

# What `simctl images upload` and `simctl label` take for an image file.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})


def floats(text: str) -> list[float]:
    """`0.485,0.456,0.406` -> [0.485, 0.456, 0.406] (argparse type)."""
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def number(text: str) -> float:
    """A float, or a fraction such as `1/255` (argparse type)."""
    try:
        return float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected a number such as 0.5 or 1/255, got {text!r}") from None


def json_object(text: str) -> dict[str, Any]:
    """A JSON object given on the command line, e.g. a filter (argparse type)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def message_dict(message: Message) -> dict[str, Any]:
    """A message as JSON-ready dict with the proto field names, zero values included."""
    try:
        return json_format.MessageToDict(
            message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
    except TypeError:  # protobuf before 5.26 names the option differently
        return json_format.MessageToDict(message, preserving_proto_field_name=True, including_default_value_fields=True)


def printed_as_json(context: Context, value: Any) -> bool:
    """With --json, prints `value` (a message, or a list of them, as dicts) and returns True; else
    returns False for the caller to print text."""
    if not context.json:
        return False
    if isinstance(value, Message):
        value = message_dict(value)
    elif isinstance(value, list):
        value = [message_dict(item) if isinstance(item, Message) else item for item in value]
    context.print_json(value)
    return True


def print_message(context: Context, message: Message, line: str) -> None:
    """`message` as JSON with --json, else the `line`."""
    if not printed_as_json(context, message):
        context.stdout.write(line + "\n")


def print_messages(
    context: Context, messages: list[Any], headers: Sequence[str], row: Callable[[Any], Sequence[object]]
) -> None:
    """`messages` as a JSON list with --json, else a table of `row(message)` under `headers`."""
    if not printed_as_json(context, messages):
        context.print_table(headers, [row(message) for message in messages])


def struct_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    """Metadata as plain JSON values; whole numbers (Struct keeps every number as a double) as ints."""
    return _whole_numbers(json_format.MessageToDict(struct))


def _whole_numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    return value


def timestamp_text(timestamp: timestamp_pb2.Timestamp) -> str:
    """ISO 8601 in UTC to the second, or `-` when unset."""
    if not timestamp.seconds and not timestamp.nanos:
        return "-"
    return timestamp.ToDatetime().strftime("%Y-%m-%dT%H:%M:%SZ")


def compact(value: Any, width: int = 60) -> str:
    """A value as compact JSON, cut to `width` characters."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def print_fields(context: Context, pairs: Sequence[tuple[str, object]]) -> None:
    """`label: value` lines with the values aligned."""
    width = max((len(label) for label, _ in pairs), default=0) + 1
    for label, value in pairs:
        context.stdout.write(f"{label + ':':<{width}} {'' if value is None else value}\n")


def size_text(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def enum_arg(enum: Any, prefix: str) -> Callable[[str], int]:
    """An argparse type taking an enum value by short name (`nchw`, `ivf-flat`, ...)."""

    def parse(text: str) -> int:
        try:
            return enum_value(enum, prefix, text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = enum.DESCRIPTOR.name
    return parse
