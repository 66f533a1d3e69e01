"""`simctl types`: similarity types, the kinds of "similar" that groups belong to.

simctl types create colour --display-name "Same colour"
simctl types list
simctl types delete colour            # with every group of it
"""

from __future__ import annotations

from simmesh_client.cli import EXIT_OK, Context
from simmesh_client.verbs.common import print_message, print_messages
from simmesh_client.verbs.declare import Verbs


def register(verbs: Verbs) -> None:
    actions = verbs.group(
        "types", help="manage similarity types", description="Create, list and delete similarity types."
    )
    create = actions.add("create", run_create, help="create a similarity type")
    create.add_argument("type_id", metavar="ID")
    create.add_argument("--display-name", default="")
    create.add_argument("--description", default="")
    actions.add("list", run_list, help="list similarity types")
    actions.add("delete", run_delete, help="delete a type and its groups").add_argument("type_id", metavar="ID")


def run_create(context: Context) -> int:
    args = context.args
    created = context.client.catalog.create_similarity_type(
        args.type_id, display_name=args.display_name, description=args.description
    )
    print_message(context, created, f"created {created.name}")
    return EXIT_OK


def run_list(context: Context) -> int:
    print_messages(
        context,
        list(context.client.catalog.list_similarity_types()),
        ("NAME", "DISPLAY NAME", "GROUPS"),
        lambda t: (t.name, t.display_name, t.group_count),
    )
    return EXIT_OK


def run_delete(context: Context) -> int:
    context.client.catalog.delete_similarity_type(context.args.type_id)
    if not context.json:
        context.stdout.write(f"deleted similarityTypes/{context.args.type_id.removeprefix('similarityTypes/')}\n")
    return EXIT_OK
