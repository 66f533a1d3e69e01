"""Retrieval quality of embeddings: recall@k and mAP@R, and N-way one-shot accuracy.

Embeddings are compared by inner product (cosine for L2-normalised vectors). In `retrieval`,
every image is a query against all the others; the relevant ones are those of its group; a
query whose group has no other image is left out.
"""

from __future__ import annotations

import numpy as np

_BLOCK = 1024


def retrieval(embeddings: np.ndarray, labels: np.ndarray, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """`recall@k` for each k and `map@r`, or {} when no query has a relevant image."""
    vectors = np.asarray(embeddings, dtype=np.float32)
    labels = np.asarray(labels)
    n = len(labels)
    hits = {k: 0 for k in ks}
    average_precision, queries = 0.0, 0
    for start in range(0, n, _BLOCK):
        block = slice(start, min(n, start + _BLOCK))
        scores = vectors[block] @ vectors.T
        scores[np.arange(scores.shape[0]), np.arange(block.start, block.stop)] = -np.inf
        order = np.argsort(-scores, axis=1, kind="stable")
        for row, query in enumerate(range(block.start, block.stop)):
            same = labels[order[row]] == labels[query]
            r = int(same.sum()) - 1  # the query itself ranks last (score -inf) and shares its label
            if r <= 0:
                continue
            queries += 1
            for k in ks:
                hits[k] += bool(same[:k].any())
            top = same[:r]
            precision = np.cumsum(top) / np.arange(1, r + 1)
            average_precision += float((precision * top).sum() / r)
    if queries == 0:
        return {}
    metrics = {f"recall@{k}": hits[k] / queries for k in ks}
    metrics["map@r"] = average_precision / queries
    return metrics


def nearest_neighbour_accuracy(
    support: np.ndarray, support_labels: np.ndarray, queries: np.ndarray, query_labels: np.ndarray
) -> float:
    """Fraction of queries whose most similar support vector has the query's label."""
    scores = np.asarray(queries, dtype=np.float32) @ np.asarray(support, dtype=np.float32).T
    predicted = np.asarray(support_labels)[np.argmax(scores, axis=1)]
    return float(np.mean(predicted == np.asarray(query_labels)))


def one_shot_accuracy(
    embeddings: np.ndarray, labels: np.ndarray, ways: int, trials: int, rng: np.random.Generator
) -> float:
    """N-way one-shot accuracy by nearest neighbour, averaged over `trials` random episodes.

    Each episode draws `ways` labels with at least two images, one image of each as the labeled
    example and another of each as the query.
    """
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    eligible = classes[counts >= 2]
    if len(eligible) < ways:
        raise ValueError(f"{ways}-way episodes need {ways} labels with two images; there are {len(eligible)}")
    accuracies = []
    for _ in range(trials):
        chosen = rng.choice(eligible, size=ways, replace=False)
        support, query = [], []
        for label in chosen:
            pair = rng.choice(np.flatnonzero(labels == label), size=2, replace=False)
            support.append(pair[0])
            query.append(pair[1])
        accuracies.append(
            nearest_neighbour_accuracy(embeddings[support], labels[support], embeddings[query], labels[query])
        )
    return float(np.mean(accuracies))
