"""`simctl tasks`: tasks, which train similarity models from the groups of their types.

simctl tasks create palette --types colour --epochs 20
simctl tasks list
simctl tasks show palette
simctl tasks delete palette
"""

from __future__ import annotations

from simmesh_client.cli import EXIT_OK, Context
from simmesh_client.enums import short_name
from simmesh_client.verbs.common import print_fields, print_message, print_messages, printed_as_json, timestamp_text
from simmesh_client.verbs.declare import Verbs
from simmesh_client.verbs.training_config import add_training_flags, training_config
from simmesh_proto.v1 import catalog_pb2


def register(verbs: Verbs) -> None:
    actions = verbs.group("tasks", help="manage training tasks", description="Create, list, show and delete tasks.")
    create = actions.add("create", run_create, help="create a task")
    create.add_argument("task_id", metavar="ID")
    create.add_argument("--types", default="", metavar="T1,T2", help="similarity types the task trains on")
    create.add_argument("--display-name", default="")
    create.add_argument("--description", default="")
    add_training_flags(create)
    actions.add("list", run_list, help="list tasks")
    actions.add("show", run_show, help="show a task").add_argument("task", metavar="TASK")
    actions.add("delete", run_delete, help="delete a task (its registry model stays)").add_argument(
        "task", metavar="TASK"
    )


def run_create(context: Context) -> int:
    args = context.args
    types = [t.strip() for t in args.types.split(",") if t.strip()]
    task = context.client.catalog.create_task(
        args.task_id,
        types,
        display_name=args.display_name,
        description=args.description,
        training_config=training_config(args),
    )
    print_message(context, task, f"created {task.name} (model {task.model})")
    return EXIT_OK


def run_list(context: Context) -> int:
    print_messages(
        context,
        list(context.client.catalog.list_tasks()),
        ("NAME", "TYPES", "PRODUCTION", "LATEST", "MODEL"),
        lambda t: (t.name, ",".join(t.similarity_types), t.production_version or "-", t.latest_version or "-", t.model),
    )
    return EXIT_OK


def run_show(context: Context) -> int:
    task = context.client.catalog.get_task(context.args.task)
    if printed_as_json(context, task):
        return EXIT_OK
    config = task.training_config
    print_fields(
        context,
        [
            ("name", task.name),
            ("display name", task.display_name),
            ("types", ", ".join(task.similarity_types)),
            ("model", task.model),
            ("production version", task.production_version or "-"),
            ("latest version", task.latest_version or "-"),
            (
                "backbone",
                short_name(catalog_pb2.Backbone, "BACKBONE_", config.backbone) if config.backbone else "default",
            ),
            ("epochs", config.epochs or "default"),
            ("created", timestamp_text(task.create_time)),
        ],
    )
    return EXIT_OK


def run_delete(context: Context) -> int:
    context.client.catalog.delete_task(context.args.task)
    if not context.json:
        context.stdout.write(f"deleted tasks/{context.args.task.removeprefix('tasks/')}\n")
    return EXIT_OK
