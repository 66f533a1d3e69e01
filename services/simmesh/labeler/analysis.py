"""Evaluate (leave-one-out accuracy, one setting or a sweep) and ListUncertain.

Evaluate reads the LABELED images' labels from the store and their vectors from the collection
(ListRecords with vectors, 1,000 a page), then runs `evaluation.sweep` off the event loop:
neighbours once for the largest k, every grid point from them.

ListUncertain scores every pool image from its k nearest voters (Search, 1,000 queries a call)
and ranks them by the margin between their two best labels, smallest first. Pages are offsets
into that ranking, recomputed per page, so they are consistent while the project is unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simmesh.kit import reasons
from simmesh.kit.errors import FailedPrecondition, InvalidArgument
from simmesh.kit.paging import clamp_page_size, decode_offset, fingerprint, offset_token
from simmesh.labeler import evaluation
from simmesh.labeler.backends import Backends
from simmesh.labeler.evaluation import Evaluation
from simmesh.labeler.mining import Uncertain, rank_uncertain
from simmesh.labeler.params import GivenParams, check_params, resolve_params
from simmesh.labeler.records import Params, State
from simmesh.labeler.suggest import neighbours_of
from simmesh.labeler.votes import label_scores

# Grid points one Evaluate call may ask for.
MAX_GRID = 1000


@dataclass(frozen=True)
class EvaluateResult:
    evaluations: list[Evaluation]
    image_count: int


class Analysis:
    def __init__(self, backends: Backends) -> None:
        self.backends = backends

    async def evaluate(
        self,
        project_id: str,
        given: GivenParams | None,
        k_values: Sequence[int],
        thresholds: Sequence[float],
        use_first: bool,
        timeout: float | None,
    ) -> EvaluateResult:
        backends = self.backends
        project = await backends.project(project_id)
        grid = self._grid(project.params(), given, k_values, thresholds, use_first, resolve_params(given, project))
        labels = await backends.run(backends.store.image_labels, project_id, [State.LABELED])
        records = await backends.collections.list_records(project.collection, {"state": State.LABELED.value}, timeout)
        records = [r for r in records if labels.get(r.id)]
        if len(records) < 2:
            raise FailedPrecondition(
                f"evaluation needs at least 2 labeled images, have {len(records)}",
                reason=reasons.NEED_MORE_SAMPLES,
                metadata={"need": 2, "have": len(records)},
            )
        vectors = np.stack([r.vector for r in records])
        image_labels = [labels[r.id] for r in records]
        ks, ths, first = grid
        results = await asyncio.to_thread(evaluation.sweep, vectors, image_labels, ks, ths, first)
        return EvaluateResult(results, len(records))

    @staticmethod
    def _grid(
        defaults: Params,
        given: GivenParams | None,
        k_values: Sequence[int],
        thresholds: Sequence[float],
        use_first: bool,
        resolved: Params,
    ) -> tuple[list[int], list[float], bool]:
        if not k_values and not thresholds:
            return [resolved.k], [resolved.threshold], resolved.use_first
        if given is not None:
            raise InvalidArgument(
                "give params for one setting or k_values/threshold_values for a sweep, not both",
                reason=reasons.PARAMS_AND_SWEEP,
                field="params",
            )
        for i, k in enumerate(k_values):
            check_params(GivenParams(k=k), f"k_values[{i}]")
            if k == 0:
                raise InvalidArgument(
                    f"k_values[{i}] must be at least 1", reason=reasons.INVALID_K, field=f"k_values[{i}]"
                )
        for i, threshold in enumerate(thresholds):
            check_params(GivenParams(threshold=threshold), f"threshold_values[{i}]")
        ks = list(dict.fromkeys(k_values)) or [defaults.k]
        ths = list(dict.fromkeys(float(t) for t in thresholds)) or [defaults.threshold]
        if len(ks) * len(ths) > MAX_GRID:
            raise InvalidArgument(
                f"a sweep holds at most {MAX_GRID} settings, got {len(ks) * len(ths)}",
                reason=reasons.GRID_TOO_LARGE,
                field="k_values",
            )
        return ks, ths, use_first or defaults.use_first

    async def uncertain(
        self, project_id: str, page_size: int, page_token: str, given: GivenParams | None, timeout: float | None
    ) -> tuple[list[Uncertain], str]:
        backends = self.backends
        project = await backends.project(project_id)
        params = resolve_params(given, project)
        size = clamp_page_size(page_size)
        fp = fingerprint("uncertain", project_id, params.k)
        offset = decode_offset(page_token, fp)
        pool = await backends.collections.list_records(project.collection, {"state": State.POOL.value}, timeout)
        if not pool:
            return [], ""
        vectors = np.stack([r.vector for r in pool])
        found = await neighbours_of(backends, project, vectors, [""] * len(pool), params.k, timeout)
        ranked = rank_uncertain((record.id, label_scores(neighbours)) for record, neighbours in zip(pool, found))
        page = ranked[offset : offset + size]
        more = offset + size < len(ranked)
        return page, offset_token(offset + size, fp) if more else ""
