"""TrainTask: checks at once, then a `train_task` operation that trains, imports and records.

Tenants: the run keeps the task's internal id (`acme.shoes`), which names its tenant. The job runs
in the context of the call that started it (asyncio copies it), so its calls to the embedder
forward the caller's identity and name the model as the caller calls it; its metadata and errors
name the task as the caller does. `train_task` operations are not resumed after a restart."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from simmesh.catalog import convert
from simmesh.catalog.backbones import Backbone, Backbones, backbone_name
from simmesh.catalog.dataset import load_images, training_group_count, training_set
from simmesh.catalog.names import TASKS, public_name, public_version_name
from simmesh.catalog.publish import Publisher
from simmesh.catalog.records import TaskVersion, TrainingGraph
from simmesh.catalog.store import CatalogStore
from simmesh.catalog.training import TrainedModel, train
from simmesh.catalog.training.options import resolve
from simmesh.kit import reasons
from simmesh.kit.auth.tenant_edge import public_error
from simmesh.kit.blobstore import BlobStore
from simmesh.kit.errors import FailedPrecondition, SimmeshError
from simmesh.kit.operations import JobContext, Operation, OperationManager
from simmesh_proto.v1 import catalog_pb2

KIND = "train_task"

# Share of the progress (0..1) reached when each stage starts.
_TRAINING_FROM, _TRAINING_TO = 0.05, 0.9
_PROGRESS = {"loading": 0.0, "training": _TRAINING_FROM, "evaluating": _TRAINING_TO, "exporting": 0.95, "done": 1.0}


@dataclass(frozen=True)
class Run:
    """One training run as the checks left it."""

    task_id: str
    graph: TrainingGraph
    # The task's config with the request's overrides and the trainer's defaults filled in.
    config: catalog_pb2.TrainingConfig
    backbone: Backbone | None
    # The version the run expects to produce (the registry may hand out another).
    version: str


def effective_config(task_config: dict, override: catalog_pb2.TrainingConfig) -> catalog_pb2.TrainingConfig:
    """The task's config, the request's set fields over it, then the trainer's defaults."""
    config = convert.dict_to_config(task_config)
    config.MergeFrom(override)
    options = resolve(config)
    return catalog_pb2.TrainingConfig(
        backbone=options.backbone,
        backbone_model=config.backbone_model,
        embedding_dimension=options.dimension,
        epochs=options.epochs,
        batch_size=options.batch_size,
        learning_rate=options.learning_rate,
        input_size=options.input_size,
        parent_weight=options.parent_weight,
        augment=options.augment,
        seed=options.seed,
        tune_last_block=options.tune_last_block,
    )


class Trainer:
    """Starts and runs `train_task` operations.

        operation = await trainer.start("shoes", catalog_pb2.TrainingConfig(epochs=10))

    Refused before any operation starts: an unknown task (NOT_FOUND), a task without similarity
    types (FAILED_PRECONDITION NO_SIMILARITY_TYPES), fewer than two training groups holding images
    (FAILED_PRECONDITION NEED_MORE_GROUPS) or none holding two (NEED_MORE_SAMPLES), a bad training config
    (INVALID_ARGUMENT), an imported backbone that does not exist (NOT_FOUND), an unreachable embedder (UNAVAILABLE).

    The job reads the image bytes of the graph the checks saw (one snapshot), trains in a thread
    (stages `loading`, `training`, `evaluating`, `exporting`, `done` in TrainingMetadata), then
    publishes: the model becomes the task's next registry version and the TaskVersion with the same
    number is recorded. Cancelling stops training at the next batch and leaves no version.
    """

    def __init__(
        self,
        store: CatalogStore,
        blobs: BlobStore,
        backbones: Backbones,
        publisher: Publisher,
        operations: OperationManager,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.backbones = backbones
        self.publisher = publisher
        self.operations = operations

    async def start(self, task_id: str, override: catalog_pb2.TrainingConfig) -> Operation:
        run = await self._check(task_id, override)
        metadata = catalog_pb2.TrainingMetadata(task=public_name(TASKS, task_id), stage="loading", version=run.version)

        async def job(ctx: JobContext) -> catalog_pb2.TaskVersion:
            try:
                return await self._run(ctx, run)
            except SimmeshError as error:
                public_error(error)
                raise

        return self.operations.start(KIND, metadata, job)

    async def _check(self, task_id: str, override: catalog_pb2.TrainingConfig) -> Run:
        task = await asyncio.to_thread(self.store.get_task, task_id)
        config = effective_config(task.training_config, override)
        if not task.similarity_types:
            raise FailedPrecondition(
                f"{TASKS}/{task_id} has no similarity types to train on; add some first",
                reason=reasons.NO_SIMILARITY_TYPES,
                metadata={"task": f"{TASKS}/{task_id}"},
            )
        graph = await asyncio.to_thread(self.store.training_graph, task_id)
        groups = training_group_count(graph)
        if groups < 2:
            raise FailedPrecondition(
                f"training needs images in at least two groups that are not test groups; the similarity types "
                f"of {TASKS}/{task_id} have {groups}",
                reason=reasons.NEED_MORE_GROUPS,
                metadata={"task": f"{TASKS}/{task_id}", "training_groups": groups},
            )
        largest = max(len(group.images) for group in graph.groups)
        if largest < 2:
            raise FailedPrecondition(
                "no training group has two images, so there is no pair of similar images to learn from",
                reason=reasons.NEED_MORE_SAMPLES,
                metadata={"task": f"{TASKS}/{task_id}", "largest_group": largest},
            )
        backbone = None
        name = backbone_name(config)
        if name:
            backbone = await self.backbones.load(name)
            config.backbone_model = backbone.version
        number = await self.publisher.next_number(task.model_id)
        return Run(task_id, graph, config, backbone, public_version_name(task_id, number))

    async def _run(self, ctx: JobContext, run: Run) -> catalog_pb2.TaskVersion:
        stop = threading.Event()
        progress = _Progress(ctx, run)

        def should_stop() -> bool:
            return stop.is_set() or ctx.cancelled

        try:
            data = await asyncio.to_thread(load_images, self.blobs, run.graph.images.values(), should_stop)
            progress.stage("training")
            trained = await asyncio.to_thread(
                train,
                training_set(run.graph, data),
                run.config,
                on_progress=progress.epoch,
                should_stop=should_stop,
                backbone=None if run.backbone is None else (run.backbone.onnx, run.backbone.manifest),
            )
        except asyncio.CancelledError:
            stop.set()  # the worker thread stops at its next batch
            raise
        progress.stage("exporting")
        version = await self.publisher.publish(run.task_id, trained, _template(run, trained), cancelled=should_stop)
        progress.stage("done", version=public_version_name(run.task_id, version.number))
        return convert.task_version_pb(version)


def _template(run: Run, trained: TrainedModel) -> TaskVersion:
    metrics = trained.metrics
    return TaskVersion(
        number=0,
        model_version="",
        training_config=convert.config_to_dict(run.config),
        metrics=dict(metrics),
        training_image_count=int(metrics.get("training_images", 0)),
        training_group_count=int(metrics.get("training_groups", 0)),
        test_group_count=int(metrics.get("test_groups", 0)),
        training_seconds=trained.seconds,
    )


class _Progress:
    """TrainingMetadata reports of one run; `epoch` is called from the training thread."""

    def __init__(self, ctx: JobContext, run: Run) -> None:
        self._ctx = ctx
        self._metadata = catalog_pb2.TrainingMetadata(
            task=public_name(TASKS, run.task_id), stage="loading", version=run.version, epochs=run.config.epochs
        )

    def epoch(self, epoch: int, epochs: int, loss: float, metric: float) -> None:
        metadata = catalog_pb2.TrainingMetadata()
        metadata.CopyFrom(self._metadata)
        # After the last epoch the trainer evaluates on the test groups and exports the graph.
        metadata.stage = "evaluating" if epoch >= epochs else "training"
        metadata.epoch, metadata.epochs, metadata.loss, metadata.metric = epoch, epochs, loss, metric
        metadata.progress = _TRAINING_FROM + (_TRAINING_TO - _TRAINING_FROM) * epoch / max(epochs, 1)
        self._metadata = metadata
        self._ctx.report(metadata)

    def stage(self, stage: str, version: str = "") -> None:
        metadata = catalog_pb2.TrainingMetadata()
        metadata.CopyFrom(self._metadata)
        metadata.stage, metadata.progress = stage, _PROGRESS[stage]
        if version:
            metadata.version = version
        self._metadata = metadata
        self._ctx.report(metadata)
