"""`simctl types`: similarity types, the kinds of "similar" that groups belong to.

simctl types create colour --display-name "Same colour"
simctl types list
simctl types delete colour            # with every group of it
"""

from __future__ import annotations

import argparse
from typing import Any

from simmesh_client.cli import EXIT_OK, Context
from simmesh_client.verbs.common import message_dict


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "types",
        parents=parents,
        help="manage similarity types",
        description="Create, list and delete similarity types.",
    )
    verbs = parser.add_subparsers(dest="types_verb", required=True, metavar="ACTION")
    create = verbs.add_parser("create", parents=parents, help="create a similarity type")
    create.add_argument("type_id", metavar="ID")
    create.add_argument("--display-name", default="")
    create.add_argument("--description", default="")
    create.set_defaults(handler=run_create)
    verbs.add_parser("list", parents=parents, help="list similarity types").set_defaults(handler=run_list)
    delete = verbs.add_parser("delete", parents=parents, help="delete a type and its groups")
    delete.add_argument("type_id", metavar="ID")
    delete.set_defaults(handler=run_delete)


def run_create(context: Context) -> int:
    args = context.args
    created = context.client.catalog.create_similarity_type(
        args.type_id, display_name=args.display_name, description=args.description
    )
    if context.json:
        context.print_json(message_dict(created))
    else:
        context.stdout.write(f"created {created.name}\n")
    return EXIT_OK


def run_list(context: Context) -> int:
    types = list(context.client.catalog.list_similarity_types())
    if context.json:
        context.print_json([message_dict(t) for t in types])
    else:
        rows = [(t.name, t.display_name, t.group_count) for t in types]
        context.print_table(("NAME", "DISPLAY NAME", "GROUPS"), rows)
    return EXIT_OK


def run_delete(context: Context) -> int:
    context.client.catalog.delete_similarity_type(context.args.type_id)
    if not context.json:
        context.stdout.write(f"deleted similarityTypes/{context.args.type_id.removeprefix('similarityTypes/')}\n")
    return EXIT_OK
