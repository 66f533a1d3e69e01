"""Labeler records <-> `simmesh.v1` messages, ids shown as the caller calls them."""

from __future__ import annotations

from simmesh.kit.auth.tenancy import public
from simmesh.kit.auth.tenant_edge import public_error
from simmesh.kit.wire import dict_to_struct, timestamp
from simmesh.labeler.batches import ItemFailure
from simmesh.labeler.evaluation import Evaluation
from simmesh.labeler.names import image_name, project_name
from simmesh.labeler.params import GivenParams
from simmesh.labeler.records import Image, LabelCount, Params, Project, State
from simmesh.labeler.suggest import Suggestion
from simmesh.labeler.votes import LabelScore, Neighbour
from simmesh_proto.v1 import common_pb2, labeler_pb2

STATE_PB = {
    State.LABELED: labeler_pb2.IMAGE_STATE_LABELED,
    State.SUGGESTED: labeler_pb2.IMAGE_STATE_SUGGESTED,
    State.POOL: labeler_pb2.IMAGE_STATE_POOL,
}
STATE_OF_PB = {value: state for state, value in STATE_PB.items()}
ACTIONS = {
    labeler_pb2.Review.ACTION_ACCEPT: "accept",
    labeler_pb2.Review.ACTION_CHANGE: "change",
    labeler_pb2.Review.ACTION_REJECT: "reject",
}


def given_params(params: labeler_pb2.SuggestParams) -> GivenParams:
    return GivenParams(
        k=params.k if params.HasField("k") else None,
        threshold=params.threshold if params.HasField("threshold") else None,
        use_first=params.use_first,
    )


def params_pb(params: Params) -> labeler_pb2.SuggestParams:
    return labeler_pb2.SuggestParams(k=params.k, threshold=params.threshold, use_first=params.use_first)


def project_pb(project: Project) -> labeler_pb2.Project:
    defaults = labeler_pb2.SuggestParams(use_first=project.default_use_first)
    if project.default_k:
        defaults.k = project.default_k
    if project.default_threshold is not None:
        defaults.threshold = project.default_threshold
    return labeler_pb2.Project(
        name=project_name(project.id),
        display_name=project.display_name,
        description=project.description,
        model=project.model,
        collection=f"collections/{public(project.collection)}",
        default_params=defaults,
        labeled_count=project.labeled_count,
        pool_count=project.pool_count,
        create_time=timestamp(project.create_time),
        update_time=timestamp(project.update_time),
    )


def image_pb(project_id: str, image: Image) -> labeler_pb2.LabeledImage:
    return labeler_pb2.LabeledImage(
        name=image_name(project_id, image.id),
        id=image.id,
        labels=list(image.labels),
        state=STATE_PB[image.state],
        url=image.url,
        metadata=dict_to_struct(image.metadata),
        create_time=timestamp(image.create_time),
        update_time=timestamp(image.update_time),
    )


def label_count_pb(count: LabelCount) -> labeler_pb2.LabelCount:
    return labeler_pb2.LabelCount(label=count.label, labeled_count=count.labeled, suggested_count=count.suggested)


def scores_pb(scores: list[LabelScore]) -> list[labeler_pb2.LabelScore]:
    return [labeler_pb2.LabelScore(label=s.label, score=s.score) for s in scores]


def neighbour_pb(neighbour: Neighbour) -> labeler_pb2.Neighbor:
    return labeler_pb2.Neighbor(id=neighbour.id, similarity=neighbour.similarity, labels=list(neighbour.labels))


def suggestion_pb(suggestion: Suggestion) -> labeler_pb2.Suggestion:
    return labeler_pb2.Suggestion(
        index=suggestion.index,
        id=suggestion.id,
        labels=scores_pb(suggestion.labels),
        scores=scores_pb(suggestion.scores),
        neighbors=[neighbour_pb(n) for n in suggestion.neighbours],
    )


def item_error_pb(failure: ItemFailure) -> common_pb2.ItemError:
    return common_pb2.ItemError(index=failure.index, id=failure.id, status=public_error(failure.error).to_status())


def evaluation_pb(result: Evaluation) -> labeler_pb2.Evaluation:
    return labeler_pb2.Evaluation(
        params=params_pb(result.params),
        accuracy=result.accuracy,
        coverage=result.coverage,
        labels=[
            labeler_pb2.LabelAccuracy(label=a.label, support=a.support, precision=a.precision, recall=a.recall)
            for a in result.labels
        ],
        confusion=[
            labeler_pb2.ConfusionCell(actual=c.actual, predicted=c.predicted, count=c.count) for c in result.confusion
        ],
    )
