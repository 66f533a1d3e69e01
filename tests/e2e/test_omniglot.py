"""Custom similarity and label-by-similarity through the whole mesh, on Omniglot.

The mesh (etcd, S3, tritonserver, the four services, two shard nodes) is started as `make up`
starts it. Omniglot's 2,720 drawings are uploaded as training images: one group per character,
one group per alphabet holding its characters; the last alphabet's group is marked as test data,
so training never sees it. The task trains once; then, on the held-out alphabet:

- 20-way one-shot classification by nearest neighbour with the served model (20 trials);
- a collection bound to the task's model finds drawings of the same character;
- a labeling project with the task's model labels 15 drawings per character from 5 (and 1)
  labeled ones;
- retraining gives version 2 while version 1 stays addressable, also after deleting a group.
"""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest
from google.longrunning import operations_pb2_grpc
from support.bench import bench_module

from simmesh.catalog.training.evaluate import one_shot_accuracy
from simmesh.devstack.mesh import Mesh, MeshConfig
from simmesh.devstack.triton import tritonserver_available
from simmesh_client.operations import wait_operation
from simmesh_proto.v1 import (
    catalog_pb2,
    catalog_pb2_grpc,
    common_pb2,
    embedder_pb2,
    embedder_pb2_grpc,
    indexer_pb2,
    indexer_pb2_grpc,
    labeler_pb2,
    labeler_pb2_grpc,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MAX_ERROR = 0.25
MAX_TRAINING_SECONDS = 15 * 60
OPTIONS = [("grpc.max_receive_message_length", 1 << 27), ("grpc.max_send_message_length", 1 << 27)]


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


class Trained:
    """What the module's one training left behind."""

    def __init__(self, mesh: Mesh, alphabets, held_out: str, seconds: float, version: catalog_pb2.TaskVersion):
        self.mesh, self.alphabets, self.held_out = mesh, alphabets, held_out
        self.seconds, self.version = seconds, version

    def channel(self, service: str) -> grpc.Channel:
        return grpc.insecure_channel(self.mesh.addresses[service], options=OPTIONS)

    def held_out_drawings(self) -> list[tuple[str, bytes]]:
        return [
            (character, drawing)
            for character, drawings in self.alphabets[self.held_out].items()
            for drawing in drawings
        ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, omniglot_zip) -> Trained:
    reason = tritonserver_available()
    if reason:
        pytest.skip(reason)
    alphabets = bench_module("omniglot_similarity").load_alphabets(omniglot_zip)
    held_out = list(alphabets)[-1]
    mesh = Mesh(MeshConfig(data_dir=tmp_path_factory.mktemp("omniglot") / "mesh", ports="auto"))
    mesh.start(timeout=300)
    try:
        with grpc.insecure_channel(mesh.addresses["catalog"], options=OPTIONS) as channel:
            catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
            catalog.CreateSimilarityType(
                catalog_pb2.CreateSimilarityTypeRequest(
                    similarity_type_id="character", similarity_type=catalog_pb2.SimilarityType(display_name="Character")
                )
            )
            catalog.CreateTask(
                catalog_pb2.CreateTaskRequest(
                    task_id="omniglot",
                    task=catalog_pb2.Task(
                        similarity_types=["similarityTypes/character"],
                        training_config=catalog_pb2.TrainingConfig(
                            backbone=catalog_pb2.BACKBONE_COMPACT_CNN, epochs=20, input_size=48, augment=True, seed=1
                        ),
                    ),
                )
            )
            for alphabet, characters in alphabets.items():
                parent = slug(alphabet)
                catalog.CreateGroup(
                    catalog_pb2.CreateGroupRequest(
                        group_id=parent,
                        group=catalog_pb2.Group(
                            similarity_type="similarityTypes/character",
                            display_name=alphabet,
                            test=alphabet == held_out,
                        ),
                    )
                )
                children = []
                for character, drawings in characters.items():
                    group = f"{parent}-{slug(character)}"
                    catalog.CreateGroup(
                        catalog_pb2.CreateGroupRequest(
                            group_id=group,
                            group=catalog_pb2.Group(
                                similarity_type="similarityTypes/character", display_name=f"{alphabet} {character}"
                            ),
                        )
                    )
                    children.append(f"groups/{group}")
                    reply = catalog.BatchCreateTrainingImages(
                        catalog_pb2.BatchCreateTrainingImagesRequest(
                            requests=[
                                catalog_pb2.CreateTrainingImageRequest(
                                    image=common_pb2.Image(content=d), groups=[f"groups/{group}"]
                                )
                                for d in drawings
                            ]
                        ),
                        timeout=120,
                    )
                    assert not reply.errors, reply.errors[0]
                catalog.AddGroupMembers(catalog_pb2.AddGroupMembersRequest(group=f"groups/{parent}", members=children))
            started = time.monotonic()
            operation = catalog.TrainTask(catalog_pb2.TrainTaskRequest(task="tasks/omniglot"))
            version = wait_operation(
                operations_pb2_grpc.OperationsStub(channel),
                operation,
                response_type=catalog_pb2.TaskVersion,
                timeout=MAX_TRAINING_SECONDS + 300,
                poll_interval=2.0,
            )
            seconds = time.monotonic() - started
        yield Trained(mesh, alphabets, held_out, seconds, version)
    finally:
        mesh.stop()


def embed(channel: grpc.Channel, model: str, images: list[bytes]) -> np.ndarray:
    stub = embedder_pb2_grpc.EmbedderServiceStub(channel)
    rows = []
    for start in range(0, len(images), 256):
        reply = stub.Embed(
            embedder_pb2.EmbedRequest(
                model=model, images=[common_pb2.Image(content=b) for b in images[start : start + 256]]
            ),
            timeout=300,
        )
        assert not reply.errors
        rows.append(np.frombuffer(reply.vectors.data, "<f4").reshape(reply.vectors.count, reply.vectors.dimension))
    return np.concatenate(rows)


def test_version_one_is_served_and_recognises_the_unseen_alphabet(trained: Trained):
    assert trained.version.name == "tasks/omniglot/versions/1"
    assert trained.version.model_version == "models/task-omniglot/versions/1"
    assert trained.version.test_group_count >= 1
    drawings = trained.held_out_drawings()
    labels = np.array([c for c, _ in drawings])
    with trained.channel("embedder") as channel:
        vectors = embed(channel, "models/task-omniglot/versions/1", [d for _, d in drawings])
    accuracy = one_shot_accuracy(vectors, labels, ways=20, trials=20, rng=np.random.default_rng(0))
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    recall_at_1 = float(np.mean(labels[np.argmax(similarity, axis=1)] == labels))
    print(
        f"\nheld-out {trained.held_out}: 20-way one-shot error {1 - accuracy:.1%}, recall@1 {recall_at_1:.3f}, "
        f"training {trained.seconds:.0f}s, test-group metrics {dict(trained.version.metrics)}"
    )
    assert 1 - accuracy <= MAX_ERROR
    assert trained.seconds <= MAX_TRAINING_SECONDS


def test_a_collection_bound_to_the_task_finds_the_same_character(trained: Trained):
    drawings = trained.held_out_drawings()
    with trained.channel("indexer") as channel:
        indexer = indexer_pb2_grpc.IndexerServiceStub(channel)
        indexer.CreateCollection(
            indexer_pb2.CreateCollectionRequest(
                collection_id="glyphs", collection=(indexer_pb2.Collection(model="models/task-omniglot", shard_count=2))
            )
        )
        records = []
        for i, (character, drawing) in enumerate(drawings):
            record = indexer_pb2.RecordInput(id=f"g{i}", image=common_pb2.Image(content=drawing))
            record.metadata.update({"character": character})
            records.append(record)
        for start in range(0, len(records), 200):
            reply = indexer.InsertRecords(
                indexer_pb2.InsertRecordsRequest(collection="collections/glyphs", records=records[start : start + 200]),
                timeout=300,
            )
            assert not reply.errors
        queries = [indexer_pb2.Query(record_id=f"g{i}") for i in range(len(drawings))]
        reply = indexer.Search(
            indexer_pb2.SearchRequest(collection="collections/glyphs", queries=queries, k=1, include_metadata=True),
            timeout=300,
        )
    same = [r.hits[0].metadata["character"] == drawings[i][0] for i, r in enumerate(reply.results)]
    assert np.mean(same) >= 0.8


def label_accuracy(trained: Trained, project: str, shots: int) -> tuple[float, labeler_pb2.EvaluateResponse]:
    with trained.channel("labeler") as channel:
        labeler = labeler_pb2_grpc.LabelerServiceStub(channel)
        labeler.CreateProject(
            labeler_pb2.CreateProjectRequest(project_id=project, project=labeler_pb2.Project(model="tasks/omniglot")),
            timeout=120,
        )
        labeled, queries = [], []
        for character, drawings in trained.alphabets[trained.held_out].items():
            labeled += [
                labeler_pb2.ImageInput(image=common_pb2.Image(content=d), labels=[character]) for d in drawings[:shots]
            ]
            queries += [(character, d) for d in drawings[5:]]
        reply = labeler.AddImages(
            labeler_pb2.AddImagesRequest(project=f"projects/{project}", images=labeled), timeout=300
        )
        assert not reply.errors
        # As a user would: pick the number of results from the leave-one-out sweep over the labeled set.
        sweep = labeler.Evaluate(
            labeler_pb2.EvaluateRequest(
                project=f"projects/{project}", k_values=[1, 3, 5, 10], threshold_values=[0, 30, 50], use_first=True
            ),
            timeout=600,
        )
        k = sweep.evaluations[0].params.k if shots > 1 else 1
        suggestions = labeler.SuggestLabels(
            labeler_pb2.SuggestLabelsRequest(
                project=f"projects/{project}",
                items=[labeler_pb2.SuggestItem(image=common_pb2.Image(content=d)) for _, d in queries],
                params=labeler_pb2.SuggestParams(k=k, threshold=0, use_first=True),
            ),
            timeout=600,
        )
        best = {s.index: s.labels[0].label for s in suggestions.suggestions if s.labels}
        accuracy = float(np.mean([best.get(i) == c for i, (c, _) in enumerate(queries)]))
    return accuracy, sweep


def test_five_shot_labeling_of_the_unseen_alphabet(trained: Trained):
    five, sweep = label_accuracy(trained, "five-shot", 5)
    one, _ = label_accuracy(trained, "one-shot", 1)
    print(
        f"\nlabel by similarity on {trained.held_out} (15 queries per character): 5-shot accuracy {five:.1%}, "
        f"1-shot accuracy {one:.1%}"
    )
    print("| k | threshold | accuracy | coverage |\n|---|---|---|---|")
    for evaluation in sweep.evaluations:
        print(
            f"| {evaluation.params.k} | {evaluation.params.threshold:.0f} | {evaluation.accuracy:.3f} | "
            f"{evaluation.coverage:.3f} |"
        )
    assert five >= 0.90
    assert one < five


def test_retraining_adds_version_two_and_version_one_stays(trained: Trained):
    with trained.channel("catalog") as channel:
        catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
        operation = catalog.TrainTask(
            catalog_pb2.TrainTaskRequest(task="tasks/omniglot", training_config=catalog_pb2.TrainingConfig(epochs=1))
        )
        second = wait_operation(
            operations_pb2_grpc.OperationsStub(channel),
            operation,
            response_type=catalog_pb2.TaskVersion,
            timeout=900,
            poll_interval=2.0,
        )
        assert second.name == "tasks/omniglot/versions/2"
        catalog.DeleteGroup(catalog_pb2.DeleteGroupRequest(name=f"groups/{slug(next(iter(trained.alphabets)))}"))
        first = catalog.GetTaskVersion(catalog_pb2.GetTaskVersionRequest(name="tasks/omniglot/versions/1"))
        assert first.model_version == "models/task-omniglot/versions/1"
        task = catalog.GetTask(catalog_pb2.GetTaskRequest(name="tasks/omniglot"))
        assert (task.production_version, task.latest_version) == (1, 2)
    drawing = trained.held_out_drawings()[0][1]
    with trained.channel("embedder") as channel:
        v1 = embed(channel, "models/task-omniglot/versions/1", [drawing])
        v2 = embed(channel, "models/task-omniglot/versions/2", [drawing])
    assert v1.shape == v2.shape and not np.allclose(v1, v2)
