"""The authorisation rule of every RPC the mesh serves: the least role a key needs, or `INTERNAL`
for the shard API that only the mesh's internal credential may call.

Reader: reads, searches, embeddings, comparisons, exports. Writer: creating and changing content,
deleting items inside a container (records, images, groups), training, labelling, imports.
Admin: what cannot be undone or reaches past one container: deleting a whole collection, task,
similarity type, project or model, restoring a collection over its data, database backups and
restores, and key management. A method missing here is refused (PERMISSION_DENIED, NO_AUTH_RULE),
and the authorisation matrix test fails on it.
"""

from __future__ import annotations

from typing import Final, Literal

from simmesh.kit.auth.identity import Role

INTERNAL: Final = "internal"

Need = Role | Literal["internal"]


def _service(name: str, **by_need: str) -> dict[str, Need]:
    """`_service("pkg.Svc", reader="Get List", writer="Create")` -> {"/pkg.Svc/Get": Role.READER, ...}."""
    rules: dict[str, Need] = {}
    for need, methods in by_need.items():
        role: Need = INTERNAL if need == INTERNAL else Role.parse(need)
        rules.update({f"/{name}/{method}": role for method in methods.split()})
    return rules


RULES: dict[str, Need] = {
    **_service(
        "simmesh.v1.EmbedderService",
        reader="Embed StreamEmbed Compare GetModel ListModels GetModelVersion ListModelVersions",
        writer="ImportModel UpdateModel",
        admin="DeleteModel DeleteModelVersion",
    ),
    **_service(
        "simmesh.v1.IndexerService",
        reader="GetCollection ListCollections GetCollectionStats BatchGetRecords ListRecords SampleRecords Search "
        "ListSnapshots",
        writer="CreateCollection UpdateCollection InsertRecords StreamInsertRecords UpdateRecord DeleteRecords "
        "TrainIndex ReembedCollection SnapshotCollection",
        admin="DeleteCollection RestoreCollection",
    ),
    **_service(
        "simmesh.v1.CatalogService",
        reader="GetSimilarityType ListSimilarityTypes GetTask ListTasks GetGroup ListGroups GetTrainingImage "
        "ListTrainingImages GetTaskVersion ListTaskVersions GetDescriptors",
        writer="CreateSimilarityType UpdateSimilarityType CreateTask UpdateTask AddTaskSimilarityTypes "
        "RemoveTaskSimilarityTypes CreateGroup UpdateGroup DeleteGroup AddGroupImages RemoveGroupImages "
        "AddGroupMembers RemoveGroupMembers CreateTrainingImage BatchCreateTrainingImages UpdateTrainingImage "
        "DeleteTrainingImage TrainTask SetProductionVersion DeployVersion",
        admin="DeleteSimilarityType DeleteTask",
    ),
    **_service(
        "simmesh.v1.LabelerService",
        reader="GetProject ListProjects GetImage ListImages ListLabels Evaluate MinePool ListUncertain ExportLabels",
        writer="CreateProject UpdateProject AddImages UpdateImage DeleteImages SuggestLabels ReviewSuggestions",
        admin="DeleteProject",
    ),
    **_service("simmesh.v1.DatabaseBackupService", admin="BackupDatabase RestoreDatabase ListDatabaseBackups"),
    **_service("simmesh.v1.KeyService", admin="CreateKey ListKeys RevokeKey ListTenants"),
    **_service(
        "google.longrunning.Operations",
        reader="GetOperation ListOperations WaitOperation",
        writer="CancelOperation DeleteOperation",
    ),
    **_service(
        "simmesh.internal.v1.ShardService",
        internal="Write WriteStream Get Delete List Sample Search SearchStream Train SampleVectors GetTrainedIndex "
        "Stats Snapshot Drop",
    ),
}


# The public RPCs that delete or remove something: each one that succeeds writes an audit line.
DELETES: frozenset[str] = frozenset(
    full for full, need in RULES.items() if need != INTERNAL and full.rsplit("/", 1)[1].startswith(("Delete", "Remove"))
)


def rule_for(full_method: str) -> Need | None:
    """The rule of `/package.Service/Method`; None where the method has none (it is refused)."""
    return RULES.get(full_method)
