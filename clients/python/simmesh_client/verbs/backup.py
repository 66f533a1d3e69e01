"""`simctl backup` / `simctl restore`: the whole mesh's metadata to the object store and back.

    simctl backup [--id nightly]      # the catalog's and the labeler's databases, a snapshot per collection
    simctl restore nightly            # databases swapped in on the live services; missing collections restored

Restoring replaces the catalog's and the labeler's data with the backup's while they run (each in
one SQLite transaction) and restores each collection of the backup that does not exist now; an
existing collection is skipped (delete it first to restore it). PostgreSQL databases are skipped
with their reason: back them up with PostgreSQL's own tools.
"""

from __future__ import annotations

from simmesh_client.backups import MeshBackupReport
from simmesh_client.cli import EXIT_OK, Context
from simmesh_client.verbs.declare import Verbs


def register(verbs: Verbs) -> None:
    backup = verbs.add(
        "backup",
        run_backup,
        help="back up the mesh's metadata to the object store",
        description="Back up the catalog's and the labeler's databases and snapshot every collection.",
    )
    backup.add_argument("--id", default="", metavar="ID", help="the backup's id (default mesh-{time})")
    restore = verbs.add(
        "restore",
        run_restore,
        help="restore the mesh's metadata from a backup",
        description="Swap the backed-up catalog and labeler databases in on the live services and restore "
        "every collection of the backup that does not exist now.",
    )
    restore.add_argument("backup_id", metavar="ID")


def run_backup(context: Context) -> int:
    _print(context, context.client.backups.backup_mesh(context.args.id), "backed up")
    return EXIT_OK


def run_restore(context: Context) -> int:
    _print(context, context.client.backups.restore_mesh(context.args.backup_id), "restored")
    return EXIT_OK


def _print(context: Context, report: MeshBackupReport, done: str) -> None:
    if context.json:
        context.print_json(
            {
                "backup": report.backup_id,
                "databases": report.databases,
                "collections": report.collections,
                "skipped": report.skipped,
            }
        )
        return
    context.stdout.write(f"{done} {report.backup_id}\n")
    for service, name in report.databases.items():
        context.stdout.write(f"  {service} database: {name}\n")
    for collection, snapshot in report.collections.items():
        context.stdout.write(f"  {collection}: {snapshot}\n")
    for what, why in report.skipped.items():
        context.stdout.write(f"  skipped {what}: {why}\n")
