"""gRPC surface of the labeler: proto <-> domain, no logic. Each tenant sees its own projects: names
parse to the caller's internal ids and replies show public ones (see labeler.names)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from google.protobuf import empty_pb2

from simmesh.kit import reasons
from simmesh.kit.auth.tenant_edge import listing_tenant
from simmesh.kit.deadlines import remaining
from simmesh.kit.errors import InvalidArgument
from simmesh.kit.wire import struct_to_dict
from simmesh.labeler import convert
from simmesh.labeler.domain import Labeler
from simmesh.labeler.export import CSV, JSON
from simmesh.labeler.names import given_project_id, parse_image_name, parse_project
from simmesh.labeler.project_images import ImageItem, ReviewItem
from simmesh.labeler.suggest import SuggestInput
from simmesh_proto.v1 import labeler_pb2, labeler_pb2_grpc

_EMPTY = empty_pb2.Empty()
_FORMATS = {labeler_pb2.EXPORT_FORMAT_CSV: CSV, labeler_pb2.EXPORT_FORMAT_JSON: JSON}


class LabelerServicer(labeler_pb2_grpc.LabelerServiceServicer):
    """`simmesh.v1.LabelerService`."""

    def __init__(self, labeler: Labeler) -> None:
        self.labeler = labeler

    # -- projects

    async def CreateProject(self, request, context) -> labeler_pb2.Project:
        given = request.project
        project = await self.labeler.projects.create(
            given_project_id(request.project_id, "project_id"),
            given.model,
            display_name=given.display_name,
            description=given.description,
            params=convert.given_params(given.default_params),
            timeout=remaining(context),
        )
        return convert.project_pb(project)

    async def GetProject(self, request, context) -> labeler_pb2.Project:
        return convert.project_pb(await self.labeler.projects.get(parse_project(request.name, "name")))

    async def ListProjects(self, request, context) -> labeler_pb2.ListProjectsResponse:
        page = await self.labeler.projects.list(request.page_size, request.page_token, listing_tenant())
        return labeler_pb2.ListProjectsResponse(
            projects=[convert.project_pb(p) for p in page.items], next_page_token=page.next_page_token
        )

    async def UpdateProject(self, request, context) -> labeler_pb2.Project:
        given = request.project
        project_id = parse_project(given.name, "project.name")
        project = await self.labeler.projects.update(
            project_id,
            list(request.update_mask.paths),
            {"display_name": given.display_name, "description": given.description},
            convert.given_params(given.default_params),
        )
        return convert.project_pb(project)

    async def DeleteProject(self, request, context) -> empty_pb2.Empty:
        await self.labeler.projects.delete(parse_project(request.name, "name"), remaining(context))
        return _EMPTY

    # -- images

    async def AddImages(self, request, context) -> labeler_pb2.AddImagesResponse:
        items = [ImageItem(i.id, i.image, tuple(i.labels), struct_to_dict(i.metadata)) for i in request.images]
        result = await self.labeler.images.add(
            parse_project(request.project, "project"), items, request.upsert, remaining(context)
        )
        return labeler_pb2.AddImagesResponse(ids=result.ids, errors=[convert.item_error_pb(f) for f in result.failures])

    async def GetImage(self, request, context) -> labeler_pb2.LabeledImage:
        project_id, image_id = parse_image_name(request.name, "name")
        return convert.image_pb(project_id, await self.labeler.images.get(project_id, image_id))

    async def ListImages(self, request, context) -> labeler_pb2.ListImagesResponse:
        project_id = parse_project(request.project, "project")
        if request.state and request.state not in convert.STATE_OF_PB:
            raise InvalidArgument(
                f"state {request.state} is not an ImageState", reason=reasons.INVALID_STATE, field="state"
            )
        states = [convert.STATE_OF_PB[request.state]] if request.state else []
        page = await self.labeler.images.list(project_id, request.page_size, request.page_token, request.label, states)
        return labeler_pb2.ListImagesResponse(
            images=[convert.image_pb(project_id, i) for i in page.items], next_page_token=page.next_page_token
        )

    async def UpdateImage(self, request, context) -> labeler_pb2.LabeledImage:
        project_id, image_id = parse_image_name(request.image.name, "image.name")
        image = await self.labeler.images.update(
            project_id,
            image_id,
            list(request.update_mask.paths),
            list(request.image.labels),
            struct_to_dict(request.image.metadata),
            remaining(context),
        )
        return convert.image_pb(project_id, image)

    async def DeleteImages(self, request, context) -> labeler_pb2.DeleteImagesResponse:
        count, missing = await self.labeler.images.delete(
            parse_project(request.project, "project"), list(request.ids), remaining(context)
        )
        return labeler_pb2.DeleteImagesResponse(deleted_count=count, missing_ids=missing)

    async def ListLabels(self, request, context) -> labeler_pb2.ListLabelsResponse:
        page = await self.labeler.images.labels(
            parse_project(request.project, "project"), request.page_size, request.page_token
        )
        return labeler_pb2.ListLabelsResponse(
            labels=[convert.label_count_pb(c) for c in page.items], next_page_token=page.next_page_token
        )

    # -- suggestions

    async def SuggestLabels(self, request, context) -> labeler_pb2.SuggestLabelsResponse:
        items = [
            SuggestInput(i.image if i.WhichOneof("item") == "image" else None, i.image_id, i.id) for i in request.items
        ]
        params = convert.given_params(request.params) if request.HasField("params") else None
        result = await self.labeler.suggester.suggest(
            parse_project(request.project, "project"), items, params, request.save, remaining(context)
        )
        return labeler_pb2.SuggestLabelsResponse(
            suggestions=[convert.suggestion_pb(s) for s in result.suggestions],
            errors=[convert.item_error_pb(f) for f in result.failures],
        )

    async def ReviewSuggestions(self, request, context) -> labeler_pb2.ReviewSuggestionsResponse:
        reviews = [ReviewItem(r.image_id, convert.ACTIONS.get(r.action, ""), tuple(r.labels)) for r in request.reviews]
        result = await self.labeler.images.review(
            parse_project(request.project, "project"), reviews, remaining(context)
        )
        return labeler_pb2.ReviewSuggestionsResponse(
            accepted_count=result.accepted,
            changed_count=result.changed,
            rejected_count=result.rejected,
            errors=[convert.item_error_pb(f) for f in result.failures],
        )

    # -- analysis

    async def Evaluate(self, request, context) -> labeler_pb2.EvaluateResponse:
        params = convert.given_params(request.params) if request.HasField("params") else None
        result = await self.labeler.analysis.evaluate(
            parse_project(request.project, "project"),
            params,
            list(request.k_values),
            list(request.threshold_values),
            request.use_first,
            remaining(context),
        )
        return labeler_pb2.EvaluateResponse(
            evaluations=[convert.evaluation_pb(e) for e in result.evaluations], image_count=result.image_count
        )

    async def MinePool(self, request, context) -> labeler_pb2.MinePoolResponse:
        hits, token = await self.labeler.miner.mine(
            parse_project(request.project, "project"),
            list(request.examples),
            list(request.example_ids),
            request.label,
            request.page_size,
            request.page_token,
            request.duplicate_similarity,
            remaining(context),
        )
        return labeler_pb2.MinePoolResponse(
            hits=[labeler_pb2.PoolHit(id=h.id, similarity=h.similarity, url=h.url) for h in hits], next_page_token=token
        )

    async def ListUncertain(self, request, context) -> labeler_pb2.ListUncertainResponse:
        params = convert.given_params(request.params) if request.HasField("params") else None
        images, token = await self.labeler.analysis.uncertain(
            parse_project(request.project, "project"), request.page_size, request.page_token, params, remaining(context)
        )
        return labeler_pb2.ListUncertainResponse(
            images=[
                labeler_pb2.UncertainImage(id=u.id, margin=u.margin, scores=convert.scores_pb(u.scores)) for u in images
            ],
            next_page_token=token,
        )

    async def ExportLabels(self, request, context) -> AsyncIterator[labeler_pb2.ExportLabelsChunk]:
        content_type = _FORMATS.get(request.format)
        if content_type is None:
            raise InvalidArgument(
                "format must be EXPORT_FORMAT_CSV or EXPORT_FORMAT_JSON", reason=reasons.INVALID_FORMAT, field="format"
            )
        first = True
        async for data in self.labeler.exporter.export(
            parse_project(request.project, "project"), content_type, request.include_suggested
        ):
            yield labeler_pb2.ExportLabelsChunk(content_type=content_type if first else "", data=data)
            first = False
