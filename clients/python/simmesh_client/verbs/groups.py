"""`simctl groups`: similarity groups; a group holds images or other groups.

simctl groups create red --type colour
simctl groups create warm --type colour --members red,orange
simctl groups create held-out --type colour --test
simctl groups list --type colour
simctl groups add-members warm yellow
simctl groups delete red
"""

from __future__ import annotations

from simmesh_client.cli import EXIT_OK, Context
from simmesh_client.verbs.common import print_message, print_messages
from simmesh_client.verbs.declare import Verbs


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def register(verbs: Verbs) -> None:
    actions = verbs.group(
        "groups",
        help="manage similarity groups",
        description="Create, list and delete similarity groups and their members.",
    )
    create = actions.add("create", run_create, help="create a group")
    create.add_argument("group_id", metavar="ID")
    create.add_argument("--type", dest="similarity_type", required=True, metavar="TYPE")
    create.add_argument("--display-name", default="")
    create.add_argument("--members", type=_names, default=[], metavar="G1,G2", help="member groups")
    create.add_argument("--test", action="store_true", help="test data: kept out of training, used to evaluate")
    listing = actions.add("list", run_list, help="list groups")
    listing.add_argument("--type", dest="similarity_type", default="", metavar="TYPE")
    listing.add_argument("--parent", default="", metavar="GROUP", help="only the members of GROUP")
    add = actions.add("add-members", run_add_members, help="add member groups to a group")
    add.add_argument("group", metavar="GROUP")
    add.add_argument("members", nargs="+", metavar="MEMBER")
    actions.add("delete", run_delete, help="delete a group").add_argument("group", metavar="GROUP")


def run_create(context: Context) -> int:
    args = context.args
    group = context.client.catalog.create_group(
        args.group_id, args.similarity_type, display_name=args.display_name, test=args.test, members=args.members
    )
    print_message(context, group, f"created {group.name}")
    return EXIT_OK


def run_list(context: Context) -> int:
    args = context.args
    print_messages(
        context,
        list(context.client.catalog.list_groups(similarity_type=args.similarity_type, parent=args.parent)),
        ("NAME", "TYPE", "IMAGES", "MEMBERS", "TEST"),
        lambda g: (g.name, g.similarity_type, len(g.images), len(g.members), "yes" if g.test else ""),
    )
    return EXIT_OK


def run_add_members(context: Context) -> int:
    group = context.client.catalog.add_group_members(context.args.group, context.args.members)
    print_message(context, group, f"{group.name}: {len(group.members)} members")
    return EXIT_OK


def run_delete(context: Context) -> int:
    context.client.catalog.delete_group(context.args.group)
    if not context.json:
        context.stdout.write(f"deleted groups/{context.args.group.removeprefix('groups/')}\n")
    return EXIT_OK
