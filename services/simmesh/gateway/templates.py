"""`google.api.http` path templates: parsed once, matched against request paths."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A `*` segment matches one path segment; `**` any number of them. Neither takes a `:`, which
# starts a custom verb (`/v1/{collection=collections/*}:search`).
_ONE = "[^/:]+"
_ANY = "[^:]+"
_VARIABLE = re.compile(r"\{([A-Za-z0-9_.]+)(?:=([^}]*))?\}")


@dataclass(frozen=True)
class PathTemplate:
    """A parsed template: its text, the field paths it binds (in order) and its matcher."""

    text: str
    fields: tuple[str, ...]
    pattern: re.Pattern[str]

    @classmethod
    def parse(cls, text: str) -> PathTemplate:
        if not text.startswith("/"):
            raise ValueError(f"path template {text!r} must start with /")
        path, verb = _split_verb(text)
        fields: list[str] = []
        parts: list[str] = []
        position = 0
        for variable in _VARIABLE.finditer(path):
            parts.append(_segments(path[position : variable.start()]))
            fields.append(variable.group(1))
            parts.append(f"(?P<v{len(fields) - 1}>{_segments(variable.group(2) or '*')})")
            position = variable.end()
        parts.append(_segments(path[position:]))
        if verb:
            parts.append(re.escape(":" + verb))
        return cls(text, tuple(fields), re.compile("^" + "".join(parts) + "$"))

    def match(self, path: str) -> dict[str, str] | None:
        """The field values a request path binds (field path -> value), None when it does not match."""
        found = self.pattern.match(path)
        if found is None:
            return None
        return {field: found.group(f"v{i}") for i, field in enumerate(self.fields)}

    def openapi_path(self) -> str:
        """The template as an OpenAPI path: each variable `{field}` (its pattern in the parameter's description)."""
        return _VARIABLE.sub(lambda m: "{" + m.group(1) + "}", self.text)

    def variable_patterns(self) -> dict[str, str]:
        """Each bound field and the segments it takes (`collections/*`)."""
        return {m.group(1): m.group(2) or "*" for m in _VARIABLE.finditer(_split_verb(self.text)[0])}


def _split_verb(text: str) -> tuple[str, str]:
    """(path, custom verb): the verb follows the last `:` outside a variable."""
    depth, cut = 0, -1
    for index, char in enumerate(text):
        depth += char == "{"
        depth -= char == "}"
        if char == ":" and depth == 0:
            cut = index
    return (text, "") if cut < 0 else (text[:cut], text[cut + 1 :])


def _segments(text: str) -> str:
    """A regex for literal text with `*` and `**` segments."""
    pieces = re.split(r"(\*\*|\*)", text)
    return "".join(_ANY if p == "**" else _ONE if p == "*" else re.escape(p) for p in pieces)
