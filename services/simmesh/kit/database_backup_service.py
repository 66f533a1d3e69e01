"""`simmesh.v1.DatabaseBackupService` over a service's `DatabaseBackups`, and its registration with `build_server`."""

from __future__ import annotations

import asyncio

from simmesh.kit import reasons
from simmesh.kit.auth.tenancy import caller_tenant
from simmesh.kit.database_backups import DatabaseBackups, backup_id_of
from simmesh.kit.errors import PermissionDenied
from simmesh.kit.paging import clamp_page_size, decode_page_token, encode_page_token
from simmesh.kit.server import ServiceBinding, binding
from simmesh_proto.v1 import backup_pb2, backup_pb2_grpc


def _whole_database() -> None:
    """A backup holds every tenant's rows: only the default tenant (and the mesh) may touch one."""
    if caller_tenant():
        raise PermissionDenied(
            f"database backups hold every tenant's data; tenant {caller_tenant()!r} may not make, list or restore them",
            reason=reasons.WHOLE_DATABASE,
        )


class DatabaseBackupServicer(backup_pb2_grpc.DatabaseBackupServiceServicer):
    def __init__(self, backups: DatabaseBackups) -> None:
        self.backups = backups

    async def BackupDatabase(self, request, context) -> backup_pb2.DatabaseBackup:
        _whole_database()
        return await asyncio.to_thread(self.backups.backup, request.backup_id)

    async def RestoreDatabase(self, request, context) -> backup_pb2.DatabaseBackup:
        _whole_database()
        return await asyncio.to_thread(self.backups.restore, backup_id_of(request.backup))

    async def ListDatabaseBackups(self, request, context) -> backup_pb2.ListDatabaseBackupsResponse:
        _whole_database()
        size = clamp_page_size(request.page_size)
        after = (decode_page_token(request.page_token, "databaseBackups") or {}).get("after", 0)
        found = await asyncio.to_thread(self.backups.newest_first)
        token = encode_page_token({"after": after + size}, "databaseBackups") if len(found) > after + size else ""
        return backup_pb2.ListDatabaseBackupsResponse(backups=found[after : after + size], next_page_token=token)


def database_backup_binding(backups: DatabaseBackups) -> ServiceBinding:
    return binding(DatabaseBackupServicer(backups), backup_pb2, backup_pb2_grpc, "DatabaseBackupService")
