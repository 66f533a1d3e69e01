"""`simctl groups`: similarity groups; a group holds images or other groups.

simctl groups create red --type colour
simctl groups create warm --type colour --members red,orange
simctl groups create held-out --type colour --test
simctl groups list --type colour
simctl groups add-members warm yellow
simctl groups delete red
"""

from __future__ import annotations

import argparse
from typing import Any

from simmesh_client.cli import EXIT_OK, Context
from simmesh_client.verbs.common import message_dict


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "groups",
        parents=parents,
        help="manage similarity groups",
        description="Create, list and delete similarity groups and their members.",
    )
    verbs = parser.add_subparsers(dest="groups_verb", required=True, metavar="ACTION")
    create = verbs.add_parser("create", parents=parents, help="create a group")
    create.add_argument("group_id", metavar="ID")
    create.add_argument("--type", dest="similarity_type", required=True, metavar="TYPE")
    create.add_argument("--display-name", default="")
    create.add_argument("--members", type=_names, default=[], metavar="G1,G2", help="member groups")
    create.add_argument("--test", action="store_true", help="test data: kept out of training, used to evaluate")
    create.set_defaults(handler=run_create)
    listing = verbs.add_parser("list", parents=parents, help="list groups")
    listing.add_argument("--type", dest="similarity_type", default="", metavar="TYPE")
    listing.add_argument("--parent", default="", metavar="GROUP", help="only the members of GROUP")
    listing.set_defaults(handler=run_list)
    add = verbs.add_parser("add-members", parents=parents, help="add member groups to a group")
    add.add_argument("group", metavar="GROUP")
    add.add_argument("members", nargs="+", metavar="MEMBER")
    add.set_defaults(handler=run_add_members)
    delete = verbs.add_parser("delete", parents=parents, help="delete a group")
    delete.add_argument("group", metavar="GROUP")
    delete.set_defaults(handler=run_delete)


def run_create(context: Context) -> int:
    args = context.args
    group = context.client.catalog.create_group(
        args.group_id, args.similarity_type, display_name=args.display_name, test=args.test, members=args.members
    )
    if context.json:
        context.print_json(message_dict(group))
    else:
        context.stdout.write(f"created {group.name}\n")
    return EXIT_OK


def run_list(context: Context) -> int:
    args = context.args
    groups = list(context.client.catalog.list_groups(similarity_type=args.similarity_type, parent=args.parent))
    if context.json:
        context.print_json([message_dict(g) for g in groups])
    else:
        context.print_table(
            ("NAME", "TYPE", "IMAGES", "MEMBERS", "TEST"),
            [(g.name, g.similarity_type, len(g.images), len(g.members), "yes" if g.test else "") for g in groups],
        )
    return EXIT_OK


def run_add_members(context: Context) -> int:
    group = context.client.catalog.add_group_members(context.args.group, context.args.members)
    if context.json:
        context.print_json(message_dict(group))
    else:
        context.stdout.write(f"{group.name}: {len(group.members)} members\n")
    return EXIT_OK


def run_delete(context: Context) -> int:
    context.client.catalog.delete_group(context.args.group)
    if not context.json:
        context.stdout.write(f"deleted groups/{context.args.group.removeprefix('groups/')}\n")
    return EXIT_OK
