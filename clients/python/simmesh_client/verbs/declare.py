"""Declaring simctl verbs: each parser gets the common options and its handler in one call."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simmesh_client.cli import Handler


class Verbs:
    """Adds verbs to `simctl` (or actions to a verb such as `collections`), each with `parents`
    (the connection and output options every verb accepts)."""

    def __init__(self, subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
        self._subparsers = subparsers
        self._parents = parents

    def add(self, name: str, handler: Handler, help: str, description: str | None = None) -> argparse.ArgumentParser:
        """A verb that `handler` runs; add its own arguments to the parser returned."""
        parser = self._parser(name, help, description)
        parser.set_defaults(handler=handler)
        return parser

    def group(self, name: str, help: str, description: str | None = None) -> Verbs:
        """A verb whose action follows it (`simctl collections create ...`); add the actions to the
        `Verbs` returned."""
        parser = self._parser(name, help, description)
        return Verbs(parser.add_subparsers(dest=f"{name}_verb", required=True, metavar="ACTION"), self._parents)

    def _parser(self, name: str, help: str, description: str | None) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self._subparsers.add_parser(
            name, parents=self._parents, help=help, description=description
        )
        return parser


def add_collection_option(parser: argparse.ArgumentParser) -> None:
    """`--collection COLLECTION`, required: the collection a verb works on."""
    parser.add_argument("--collection", required=True, metavar="COLLECTION")
