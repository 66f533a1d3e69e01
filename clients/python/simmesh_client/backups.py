"""`client.backups`: the mesh's metadata backed up to the object store and restored from it.

A mesh backup `{backup}` is the catalog's and the labeler's databases (`databaseBackups/{backup}`
on each) and a snapshot of every collection (`snapshots/{backup}-{collection}`). A database on
PostgreSQL is skipped with its reason (DATABASE_NOT_SQLITE): back it up with PostgreSQL's tools.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from simmesh_client.base import Channels, ServiceClient, paginate, resource_name
from simmesh_client.errors import SimmeshError
from simmesh_client.indexer import IndexerClient
from simmesh_proto.v1 import backup_pb2, backup_pb2_grpc, indexer_pb2

DATABASE_SERVICES = ("catalog", "labeler")


class DatabaseBackupClient(ServiceClient[backup_pb2_grpc.DatabaseBackupServiceStub]):
    """One service's DatabaseBackupService."""

    stub_class = backup_pb2_grpc.DatabaseBackupServiceStub

    def backup(self, backup_id: str = "") -> backup_pb2.DatabaseBackup:
        return self.rpc.BackupDatabase(backup_pb2.BackupDatabaseRequest(backup_id=backup_id))

    def restore(self, backup: str) -> backup_pb2.DatabaseBackup:
        """Replace the live database's contents with `backup`'s (`databaseBackups/{b}` or `{b}`)."""
        return self.rpc.RestoreDatabase(
            backup_pb2.RestoreDatabaseRequest(backup=resource_name("databaseBackups", backup))
        )

    def list(self, *, page_size: int = 0) -> Iterator[backup_pb2.DatabaseBackup]:
        request = backup_pb2.ListDatabaseBackupsRequest(page_size=page_size)
        return paginate(self.rpc.ListDatabaseBackups, request, "backups")


class CatalogBackupClient(DatabaseBackupClient):
    service = "catalog"


class LabelerBackupClient(DatabaseBackupClient):
    service = "labeler"


@dataclass
class MeshBackupReport:
    """What a mesh backup or restore did: per database and per collection, and what it skipped."""

    backup_id: str
    databases: dict[str, str] = field(default_factory=dict)  # service -> backup name
    collections: dict[str, str] = field(default_factory=dict)  # collection -> snapshot (restore: the reverse)
    skipped: dict[str, str] = field(default_factory=dict)  # what -> why


class MeshBackups:
    """`backup_mesh` / `restore_mesh` over the catalog, the labeler and the indexer."""

    def __init__(self, client: Channels, indexer: IndexerClient) -> None:
        self.catalog = CatalogBackupClient(client)
        self.labeler = LabelerBackupClient(client)
        self._indexer = indexer

    def backup_mesh(self, backup_id: str = "", *, timeout: float | None = None) -> MeshBackupReport:
        """Back up both databases and snapshot every collection under `backup_id` (default `mesh-{UTC time}`)."""
        report = MeshBackupReport(backup_id or f"mesh-{time.strftime('%Y%m%dt%H%M%Sz', time.gmtime())}")
        for service in DATABASE_SERVICES:
            try:
                report.databases[service] = self._database(service).backup(report.backup_id).name
            except SimmeshError as error:
                report.skipped[service] = _skipped(error)
        for collection in self._indexer.list_collections():
            collection_id = collection.name.rsplit("/", 1)[-1]
            snapshot = self._indexer.snapshot_collection(
                collection_id, f"{report.backup_id}-{collection_id}", timeout=timeout
            )
            report.collections[collection.name] = snapshot.name
        return report

    def restore_mesh(self, backup_id: str, *, timeout: float | None = None) -> MeshBackupReport:
        """Restore both databases (into the live services) and every collection of the backup that
        does not exist now (an existing one is skipped: delete it first to restore it)."""
        report = MeshBackupReport(backup_id)
        for service in DATABASE_SERVICES:
            try:
                report.databases[service] = self._database(service).restore(backup_id).name
            except SimmeshError as error:
                report.skipped[service] = _skipped(error)
        for snapshot in self._snapshots_of(backup_id):
            collection_id = snapshot.collection.rsplit("/", 1)[-1]
            try:
                restored = self._indexer.restore_collection(snapshot.name, collection_id, timeout=timeout)
                report.collections[restored.name] = snapshot.name
            except SimmeshError as error:
                report.skipped[snapshot.collection] = _skipped(error)
        return report

    def _database(self, service: str) -> DatabaseBackupClient:
        return self.catalog if service == "catalog" else self.labeler

    def _snapshots_of(self, backup_id: str) -> list[indexer_pb2.Snapshot]:
        return [
            s
            for s in self._indexer.list_snapshots()
            if s.name == f"snapshots/{backup_id}-{s.collection.rsplit('/', 1)[-1]}"
        ]


def _skipped(error: SimmeshError) -> str:
    return f"{error.reason or error.code.name}: {error.message}"
