"""`simctl versions`: a task's trained versions, and which one is in production.

simctl versions palette
simctl versions palette --set-production 2
"""

from __future__ import annotations

from typing import Any

from simmesh_client.cli import EXIT_OK, Context
from simmesh_client.verbs.common import message_dict, positive_int, timestamp_text
from simmesh_client.verbs.declare import Verbs


def register(verbs: Verbs) -> None:
    parser = verbs.add(
        "versions",
        run,
        help="list a task's versions",
        description="List a task's trained versions with their metrics; "
        "--set-production chooses the version `tasks/{task}` means.",
    )
    parser.add_argument("task", metavar="TASK")
    parser.add_argument(
        "--set-production", type=positive_int, metavar="N", help="make version N the production version"
    )


def run(context: Context) -> int:
    args = context.args
    catalog = context.client.catalog
    task_id = args.task.removeprefix("tasks/")
    if args.set_production:
        catalog.set_production(f"tasks/{task_id}/versions/{args.set_production}")
    task = catalog.get_task(task_id)
    versions = list(catalog.list_versions(task_id))
    if context.json:
        context.print_json(
            {
                "task": task.name,
                "production_version": task.production_version,
                "versions": [message_dict(v) for v in versions],
            }
        )
        return EXIT_OK
    rows = []
    for version in versions:
        number = int(version.name.rsplit("/", 1)[1])
        metrics = version.metrics
        rows.append(
            (
                version.name,
                "*" if number == task.production_version else "",
                version.model_version,
                version.training_image_count,
                _figure(metrics, "recall@1"),
                _figure(metrics, "map@r"),
                _figure(metrics, "loss"),
                timestamp_text(version.create_time),
            )
        )
    context.print_table(("VERSION", "PROD", "MODEL VERSION", "IMAGES", "RECALL@1", "MAP@R", "LOSS", "CREATED"), rows)
    return EXIT_OK


def _figure(metrics: Any, key: str) -> str:
    return f"{metrics[key]:.3f}" if key in metrics else "-"
