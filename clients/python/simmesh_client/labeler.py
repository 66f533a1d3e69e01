"""`client.labeler`: label images by similarity: projects, suggestions, review, evaluation, mining."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from simmesh_client.base import ImageSource, ServiceClient, as_image, paginate, resource_name
from simmesh_client.errors import ItemFailure
from simmesh_client.labeling import (
    DEFAULT_BATCH,
    EXPORT_FORMATS,
    AddSummary,
    LabeledItem,
    batched,
    review_list,
    suggest_params,
)
from simmesh_proto.v1 import labeler_pb2, labeler_pb2_grpc


class LabelerClient(ServiceClient[labeler_pb2_grpc.LabelerServiceStub]):
    """Label by similarity. `project` arguments take `birds` or `projects/birds`."""

    service = "labeler"
    stub_class = labeler_pb2_grpc.LabelerServiceStub

    def create_project(
        self,
        project_id: str,
        model: str = "",
        *,
        display_name: str = "",
        description: str = "",
        k: int | None = None,
        threshold: float | None = None,
        use_first: bool = False,
    ) -> labeler_pb2.Project:
        """A project embedding with `model` (`models/{m}[/versions/{v}]` or `tasks/{t}[/versions/{v}]`;
        empty: the built-in `models/generic`, for photos); k, threshold and use_first become its
        SuggestLabels defaults."""
        project = labeler_pb2.Project(
            model=model,
            display_name=display_name,
            description=description,
            default_params=suggest_params(k, threshold, use_first),
        )
        return self.rpc.CreateProject(labeler_pb2.CreateProjectRequest(project_id=project_id, project=project))

    def get_project(self, project: str) -> labeler_pb2.Project:
        return self.rpc.GetProject(labeler_pb2.GetProjectRequest(name=resource_name("projects", project)))

    def list_projects(self, *, page_size: int = 0) -> Iterator[labeler_pb2.Project]:
        request = labeler_pb2.ListProjectsRequest(page_size=page_size)
        return paginate(self.rpc.ListProjects, request, "projects")

    def delete_project(self, project: str) -> None:
        """Delete a project with its images and its collection."""
        self.rpc.DeleteProject(labeler_pb2.DeleteProjectRequest(name=resource_name("projects", project)))

    def add_images(
        self,
        project: str,
        items: Iterable[LabeledItem],
        *,
        upsert: bool = False,
        batch_size: int = DEFAULT_BATCH,
        on_batch: Callable[[int, labeler_pb2.AddImagesResponse], None] | None = None,
    ) -> AddSummary:
        """Add images in batches of `batch_size` (labeled, or to the pool without labels).

        Failed items (undecodable image, existing id without `upsert`, ...) are listed in the
        summary with their position in `items`; the others are stored. `on_batch` gets the number
        of items sent so far and each batch's response.
        """
        summary, sent = AddSummary(), 0
        for batch in batched(items, batch_size):
            request = labeler_pb2.AddImagesRequest(
                project=resource_name("projects", project),
                upsert=upsert,
                images=[
                    labeler_pb2.ImageInput(id=item.id, image=as_image(item.image), labels=list(item.labels))  # type: ignore[arg-type]
                    for item in batch
                ],
            )
            response = self.rpc.AddImages(request)
            summary.ids += [i for i in response.ids if i]
            summary.failures += [
                ItemFailure(sent + e.index, e.id, ItemFailure.from_proto(e).error) for e in response.errors
            ]
            sent += len(batch)
            if on_batch is not None:
                on_batch(sent, response)
        return summary

    def suggest(
        self,
        project: str,
        images: Sequence[ImageSource] = (),
        *,
        image_ids: Sequence[str] = (),
        k: int | None = None,
        threshold: float | None = None,
        use_first: bool = False,
        save: bool = False,
        ids: Sequence[str] = (),
        timeout: float | None = None,
    ) -> labeler_pb2.SuggestLabelsResponse:
        """Label suggestions for one batch: new `images` (saved under `ids` with `save`), then
        images already in the project by `image_ids`. Unset k / threshold take the project's
        defaults. Items that failed are in the response's `errors`."""
        if ids and len(ids) != len(images):
            raise ValueError(f"ids has {len(ids)} entries for {len(images)} images")
        items = [
            labeler_pb2.SuggestItem(image=as_image(image), id=ids[i] if ids else "") for i, image in enumerate(images)
        ]
        items += [labeler_pb2.SuggestItem(image_id=image_id) for image_id in image_ids]
        request = labeler_pb2.SuggestLabelsRequest(
            project=resource_name("projects", project),
            items=items,
            save=save,
            params=suggest_params(k, threshold, use_first),
        )
        return self.rpc.SuggestLabels(request, timeout=timeout)

    def review(
        self,
        project: str,
        *,
        accept: Sequence[str] = (),
        change: Mapping[str, Sequence[str]] | None = None,
        reject: Sequence[str] = (),
    ) -> labeler_pb2.ReviewSuggestionsResponse:
        """Accept, change (image id -> labels) or reject saved suggestions, in one call."""
        request = labeler_pb2.ReviewSuggestionsRequest(
            project=resource_name("projects", project), reviews=review_list(accept, dict(change or {}), reject)
        )
        return self.rpc.ReviewSuggestions(request)

    def evaluate(
        self,
        project: str,
        *,
        k: int | None = None,
        threshold: float | None = None,
        use_first: bool = False,
        k_values: Sequence[int] = (),
        threshold_values: Sequence[float] = (),
        timeout: float | None = None,
    ) -> labeler_pb2.EvaluateResponse:
        """Leave-one-out accuracy over the labeled images: one setting, or with `k_values` and/or
        `threshold_values` a sweep over every pair, best first."""
        request = labeler_pb2.EvaluateRequest(
            project=resource_name("projects", project),
            use_first=use_first,
            k_values=list(k_values),
            threshold_values=list(threshold_values),
        )
        if not k_values and not threshold_values:
            request.params.CopyFrom(suggest_params(k, threshold, use_first))
        return self.rpc.Evaluate(request, timeout=timeout)

    def mine(
        self,
        project: str,
        *,
        examples: Sequence[ImageSource] = (),
        example_ids: Sequence[str] = (),
        label: str = "",
        duplicate_similarity: float = 0.0,
        page_size: int = 0,
    ) -> Iterator[labeler_pb2.PoolHit]:
        """Pool images most like the examples, near-duplicates removed, best first, across pages."""
        request = labeler_pb2.MinePoolRequest(
            project=resource_name("projects", project),
            examples=[as_image(e) for e in examples],
            example_ids=list(example_ids),
            label=label,
            duplicate_similarity=duplicate_similarity,
            page_size=page_size,
        )
        return paginate(self.rpc.MinePool, request, "hits")

    def uncertain(
        self, project: str, *, k: int | None = None, page_size: int = 0
    ) -> Iterator[labeler_pb2.UncertainImage]:
        """Pool images by increasing margin between their two best labels, across pages."""
        request = labeler_pb2.ListUncertainRequest(
            project=resource_name("projects", project), page_size=page_size, params=suggest_params(k)
        )
        return paginate(self.rpc.ListUncertain, request, "images")

    def labels(self, project: str, *, page_size: int = 0) -> Iterator[labeler_pb2.LabelCount]:
        request = labeler_pb2.ListLabelsRequest(project=resource_name("projects", project), page_size=page_size)
        return paginate(self.rpc.ListLabels, request, "labels")

    def images(
        self,
        project: str,
        *,
        label: str = "",
        state: labeler_pb2.ImageState = labeler_pb2.IMAGE_STATE_UNSPECIFIED,
        page_size: int = 0,
    ) -> Iterator[labeler_pb2.LabeledImage]:
        request = labeler_pb2.ListImagesRequest(
            project=resource_name("projects", project), label=label, state=state, page_size=page_size
        )
        return paginate(self.rpc.ListImages, request, "images")

    def export(self, project: str, *, format: str = "csv", include_suggested: bool = False) -> Iterator[bytes]:
        """The labels as CSV or JSON, chunk by chunk as the server streams them."""
        if format not in EXPORT_FORMATS:
            raise ValueError(f"format must be one of {sorted(EXPORT_FORMATS)}, got {format!r}")
        request = labeler_pb2.ExportLabelsRequest(
            project=resource_name("projects", project),
            format=EXPORT_FORMATS[format],
            include_suggested=include_suggested,
        )
        for chunk in self.rpc.ExportLabels(request):
            yield chunk.data
