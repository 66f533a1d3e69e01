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

    def openapi_path(self) -> tuple[str, list[tuple[str, str]]]:
        """The template as an OpenAPI path, and its parameters (name, what it is): a variable's literal
        segments stay in the path, each `*` or `**` becomes a parameter (`{collection=collections/*}`
        -> `/v1/collections/{collection}`; `{name=tasks/*/versions/*}` -> `tasks/{name_1}/versions/{name_2}`),
        so that templates that bind different collections give different paths."""
        parameters: list[tuple[str, str]] = []

        def expand(variable: re.Match[str]) -> str:
            field, pattern = variable.group(1), variable.group(2) or "*"
            segments = pattern.split("/")
            stars = sum(segment in ("*", "**") for segment in segments)
            names = [field] if stars == 1 else [f"{field}_{i}" for i in range(1, stars + 1)]
            shown, taken = [], iter(names)
            for segment in segments:
                if segment in ("*", "**"):
                    name = next(taken)
                    shown.append("{" + name + "}")
                    parameters.append((name, f"in `{field}` (`{pattern}`)"))
                else:
                    shown.append(segment)
            return "/".join(shown)

        return _VARIABLE.sub(expand, self.text), parameters


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
