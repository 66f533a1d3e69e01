"""Label-by-similarity scoring: the k nearest labeled images vote for their labels.

For a query with neighbours n_1..n_k, cosine similarities s_i and label sets L_i:

    w_i          = max(s_i, 0)                       (a dissimilar neighbour has no say)
    score(label) = 100 * sum(w_i for i with label in L_i) / sum(w_i for every i)

so a label's score is the share (0..100) of the neighbours' similarity mass that carries it. A
neighbour with several labels gives its full weight to each, so scores of different labels may
add up to more than 100. With no neighbours, or only neighbours at similarity <= 0, every score
is 0. Labels scoring at or above the threshold (and above 0) are suggested, best first (ties by
label); `use_first` keeps only the best of those. The margin of a suggestion is the best score
minus the second best (0 when nothing was voted for).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Scores within this of the threshold count as reaching it (float sums of equal weights).
EPSILON = 1e-6


@dataclass(frozen=True)
class Neighbour:
    id: str
    similarity: float
    labels: tuple[str, ...]


@dataclass(frozen=True)
class LabelScore:
    label: str
    score: float


def label_scores(neighbours: Sequence[Neighbour]) -> list[LabelScore]:
    """Every label the neighbours carry with its score 0..100, best first (ties by label)."""
    total = 0.0
    sums: dict[str, float] = {}
    for neighbour in neighbours:
        weight = max(float(neighbour.similarity), 0.0)
        total += weight
        for label in dict.fromkeys(neighbour.labels):
            sums[label] = sums.get(label, 0.0) + weight
    scores = [LabelScore(label, 100.0 * value / total if total > 0 else 0.0) for label, value in sums.items()]
    return sorted(scores, key=lambda s: (-s.score, s.label))


def suggested(scores: Sequence[LabelScore], threshold: float, use_first: bool) -> list[LabelScore]:
    """The labels of `scores` (best first) that reach `threshold`; only the best with `use_first`."""
    chosen = [s for s in scores if s.score > 0 and s.score >= threshold - EPSILON]
    return chosen[:1] if use_first else chosen


def margin(scores: Sequence[LabelScore]) -> float:
    """Best score minus the second best (the second is 0 when only one label was voted for)."""
    if not scores:
        return 0.0
    second = scores[1].score if len(scores) > 1 else 0.0
    return scores[0].score - second
