"""Leave-one-out evaluation of label-by-similarity, in numpy.

Every labeled image is suggested for from the other labeled images, with the scoring of
`votes` (similarity-weighted share of the k nearest neighbours, 0..100). Neighbours are found
once for the largest k of a sweep; each grid point then only re-weighs them.

- accuracy: share of images whose best suggested label is one of their own labels;
- coverage: share of images that got any suggestion at the threshold;
- per label: support (images carrying it), precision (suggested and right / suggested) and
  recall (suggested and right / support), over the suggested label sets (only the best with
  `use_first`);
- confusion: one count per image, (actual, predicted best label or "" when nothing reached the
  threshold); `actual` is the predicted label when it is one of the image's labels, else the
  image's first label.

A sweep lists every (k, threshold) pair, best first: higher accuracy, then higher coverage, then
smaller k, then lower threshold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simmesh.labeler.records import Params
from simmesh.labeler.votes import EPSILON

# Rows of the similarity matrix computed at a time.
BLOCK = 1024


@dataclass(frozen=True)
class Neighbours:
    """Per image, the other images by decreasing cosine similarity."""

    index: np.ndarray  # (n, m) int64
    similarity: np.ndarray  # (n, m) float32


@dataclass(frozen=True)
class LabelAccuracy:
    label: str
    support: int
    precision: float
    recall: float


@dataclass(frozen=True)
class ConfusionCell:
    actual: str
    predicted: str
    count: int


@dataclass(frozen=True)
class Evaluation:
    params: Params
    accuracy: float
    coverage: float
    labels: list[LabelAccuracy]
    confusion: list[ConfusionCell]


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def nearest(vectors: np.ndarray, k: int) -> Neighbours:
    """The min(k, n - 1) most similar other rows of each row (cosine; ties by row order)."""
    unit = normalise(vectors)
    n = len(unit)
    m = max(min(k, n - 1), 0)
    index = np.zeros((n, m), dtype=np.int64)
    similarity = np.zeros((n, m), dtype=np.float32)
    if m == 0:
        return Neighbours(index, similarity)
    for start in range(0, n, BLOCK):
        rows = np.arange(start, min(start + BLOCK, n))
        sims = unit[rows] @ unit.T
        sims[np.arange(len(rows)), rows] = -np.inf
        top = np.argpartition(-sims, m - 1, axis=1)[:, :m]
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.lexsort((top, -top_sims), axis=1)
        index[rows] = np.take_along_axis(top, order, axis=1)
        similarity[rows] = np.take_along_axis(top_sims, order, axis=1)
    return Neighbours(index, similarity)


def label_matrix(labels: Sequence[Sequence[str]]) -> tuple[list[str], np.ndarray]:
    """The vocabulary (sorted) and the (n, len(vocabulary)) multi-hot matrix."""
    vocabulary = sorted({label for image in labels for label in image})
    column = {label: j for j, label in enumerate(vocabulary)}
    matrix = np.zeros((len(labels), len(vocabulary)), dtype=np.float32)
    for i, image in enumerate(labels):
        for label in image:
            matrix[i, column[label]] = 1.0
    return vocabulary, matrix


def scores(neighbours: Neighbours, matrix: np.ndarray, k: int) -> np.ndarray:
    """(n, labels) scores 0..100 from each image's k nearest neighbours (votes' formula)."""
    weights = np.maximum(neighbours.similarity[:, :k], 0.0)
    out = np.zeros(matrix.shape, dtype=np.float64)
    for j in range(weights.shape[1]):
        out += weights[:, j : j + 1] * matrix[neighbours.index[:, j]]
    total = weights.sum(axis=1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total[:, None] > 0, 100.0 * out / total[:, None], 0.0)
    return out


def judge(
    score: np.ndarray, vocabulary: list[str], matrix: np.ndarray, labels: Sequence[Sequence[str]], params: Params
) -> Evaluation:
    """Accuracy, coverage, per-label figures and confusion of one setting from its scores."""
    n = len(matrix)
    if not vocabulary or n == 0:
        return Evaluation(params, 0.0, 0.0, [], [])
    reached = (score > 0) & (score >= params.threshold - EPSILON)
    best = np.argmax(score, axis=1)
    rows = np.arange(n)
    has_best = reached[rows, best]
    if params.use_first:
        chosen = np.zeros_like(reached)
        chosen[rows[has_best], best[has_best]] = True
    else:
        chosen = reached
    truth = matrix > 0
    correct = has_best & truth[rows, best]
    hits = (chosen & truth).sum(axis=0)
    predicted = chosen.sum(axis=0)
    support = truth.sum(axis=0)
    per_label = [
        LabelAccuracy(
            label,
            int(support[j]),
            float(hits[j] / predicted[j]) if predicted[j] else 0.0,
            float(hits[j] / support[j]) if support[j] else 0.0,
        )
        for j, label in enumerate(vocabulary)
    ]
    cells: Counter[tuple[str, str]] = Counter()
    for i in range(n):
        guess = vocabulary[best[i]] if has_best[i] else ""
        actual = guess if correct[i] else (labels[i][0] if labels[i] else "")
        cells[(actual, guess)] += 1
    confusion = [ConfusionCell(a, p, c) for (a, p), c in sorted(cells.items())]
    return Evaluation(params, float(correct.mean()), float(has_best.mean()), per_label, confusion)


def sweep(
    vectors: np.ndarray,
    labels: Sequence[Sequence[str]],
    k_values: Sequence[int],
    thresholds: Sequence[float],
    use_first: bool,
) -> list[Evaluation]:
    """Leave-one-out evaluation of every (k, threshold) pair, best first."""
    vocabulary, matrix = label_matrix(labels)
    neighbours = nearest(vectors, max(k_values))
    results = []
    for k in dict.fromkeys(k_values):
        score = scores(neighbours, matrix, k)
        for threshold in dict.fromkeys(thresholds):
            results.append(judge(score, vocabulary, matrix, labels, Params(k, float(threshold), use_first)))
    return sorted(results, key=lambda e: (-e.accuracy, -e.coverage, e.params.k, e.params.threshold))
