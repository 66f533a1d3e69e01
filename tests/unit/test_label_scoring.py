"""Label-by-similarity arithmetic on hand-made data: votes, thresholds, use_first, leave-one-out
evaluation and confusion, near-duplicate removal and uncertainty ranking."""

from __future__ import annotations

import numpy as np
import pytest

from simmesh.kit.errors import InvalidArgument
from simmesh.labeler import evaluation
from simmesh.labeler.mining import PoolCandidate, merge_best, rank_uncertain, without_near_duplicates
from simmesh.labeler.params import GivenParams, check_params
from simmesh.labeler.votes import LabelScore, Neighbour, label_scores, margin, suggested


def scores_of(*pairs: tuple[float, tuple[str, ...]]) -> dict[str, float]:
    neighbours = [Neighbour(f"n{i}", s, labels) for i, (s, labels) in enumerate(pairs)]
    return {s.label: s.score for s in label_scores(neighbours)}


def test_each_label_scores_its_share_of_the_similarity_mass():
    scores = label_scores(
        [
            Neighbour("a", 0.9, ("cat",)),
            Neighbour("b", 0.8, ("cat", "dog")),
            Neighbour("c", 0.5, ("dog",)),
            Neighbour("d", -0.2, ("fox",)),
        ]
    )
    assert [s.label for s in scores] == ["cat", "dog", "fox"]
    assert scores[0].score == pytest.approx(100 * 1.7 / 2.2)
    assert scores[1].score == pytest.approx(100 * 1.3 / 2.2)
    # A neighbour at negative similarity has no weight: its label is listed at 0.
    assert scores[2].score == 0.0


def test_scores_do_not_depend_on_the_scale_of_the_similarities():
    near = scores_of((0.9, ("a",)), (0.6, ("b",)), (0.3, ("a",)))
    far = scores_of((0.09, ("a",)), (0.06, ("b",)), (0.03, ("a",)))
    assert near == pytest.approx(far)
    assert scores_of((0.4, ("only",))) == {"only": pytest.approx(100.0)}


def test_nothing_to_vote_with_gives_zero_scores_and_no_suggestion():
    assert label_scores([]) == []
    scores = label_scores([Neighbour("a", -0.5, ("x",)), Neighbour("b", 0.0, ("y",))])
    assert all(s.score == 0.0 for s in scores)
    assert suggested(scores, 0.0, False) == []


def test_threshold_and_use_first():
    scores = label_scores(
        [Neighbour("a", 0.9, ("cat",)), Neighbour("b", 0.8, ("cat", "dog")), Neighbour("c", 0.5, ("dog",))]
    )
    assert [s.label for s in suggested(scores, 50.0, False)] == ["cat", "dog"]
    assert [s.label for s in suggested(scores, 60.0, False)] == ["cat"]
    assert [s.label for s in suggested(scores, 50.0, True)] == ["cat"]
    assert suggested(scores, 100.0, True) == []


def test_a_score_exactly_at_the_threshold_is_suggested():
    neighbours = [Neighbour(str(i), 0.7, ("x",) if i < 3 else ("y",)) for i in range(10)]
    scores = label_scores(neighbours)
    assert [s.label for s in suggested(scores, 30.0, False)] == ["y", "x"]


def test_ties_are_broken_by_label_and_margin_is_best_minus_second():
    scores = label_scores([Neighbour("a", 0.5, ("b",)), Neighbour("c", 0.5, ("a",))])
    assert [s.label for s in scores] == ["a", "b"] and margin(scores) == 0.0
    assert margin([LabelScore("a", 80.0), LabelScore("b", 15.0)]) == pytest.approx(65.0)
    assert margin([LabelScore("a", 100.0)]) == 100.0
    assert margin([]) == 0.0


# Two clusters (red around x, blue around y) and one blue-labeled image deep in the red cluster.
VECTORS = np.array(
    [
        [1.0, 0.0],
        [0.99, 0.14],
        [0.98, -0.2],  # red
        [0.0, 1.0],
        [0.1, 0.99],
        [-0.2, 0.98],  # blue
        [0.95, 0.3],
    ],
    dtype=np.float32,
)  # labeled blue, looks red
LABELS = [("red",), ("red",), ("red",), ("blue",), ("blue",), ("blue",), ("blue",)]


def test_leave_one_out_finds_the_other_images_only():
    found = evaluation.nearest(VECTORS, 3)
    assert found.index.shape == (7, 3)
    assert all(i not in row for i, row in enumerate(found.index))
    assert set(found.index[6]) == {0, 1, 2}
    assert np.all(np.diff(found.similarity, axis=1) <= 0)
    assert evaluation.nearest(VECTORS, 100).index.shape == (7, 6)


def test_numpy_scores_match_the_vote_of_each_image():
    found = evaluation.nearest(VECTORS, 4)
    vocabulary, matrix = evaluation.label_matrix(LABELS)
    table = evaluation.scores(found, matrix, 4)
    for i in range(len(VECTORS)):
        voters = [Neighbour(str(j), float(s), LABELS[j]) for j, s in zip(found.index[i], found.similarity[i])]
        expected = {s.label: s.score for s in label_scores(voters)}
        assert {
            vocabulary[j]: table[i, j] for j in range(len(vocabulary)) if vocabulary[j] in expected
        } == pytest.approx(expected)


def test_leave_one_out_accuracy_per_label_figures_and_confusion():
    [result] = evaluation.sweep(VECTORS, LABELS, [3], [40.0], use_first=False)
    assert result.accuracy == pytest.approx(6 / 7)
    assert result.coverage == 1.0
    figures = {a.label: a for a in result.labels}
    assert figures["red"].support == 3 and figures["red"].precision == pytest.approx(0.75)
    assert figures["red"].recall == 1.0
    assert figures["blue"].support == 4 and figures["blue"].precision == 1.0
    assert figures["blue"].recall == pytest.approx(0.75)
    cells = {(c.actual, c.predicted): c.count for c in result.confusion}
    assert cells == {("red", "red"): 3, ("blue", "blue"): 3, ("blue", "red"): 1}


def test_a_sweep_lists_every_setting_best_first():
    results = evaluation.sweep(VECTORS, LABELS, [3, 1], [70.0, 40.0], use_first=True)
    assert len(results) == 4
    assert [r.accuracy for r in results] == sorted((r.accuracy for r in results), reverse=True)
    strict = next(r for r in results if r.params.k == 3 and r.params.threshold == 70.0)
    # At 70 the red images (two thirds red) get nothing; the blue ones and the odd one still do.
    assert strict.coverage == pytest.approx(4 / 7) and strict.accuracy == pytest.approx(3 / 7)
    assert ("red", "") in {(c.actual, c.predicted) for c in strict.confusion}
    assert results[0].accuracy == pytest.approx(6 / 7)


def test_use_first_keeps_only_the_best_label_in_the_per_label_figures():
    vectors = np.ones((3, 4), dtype=np.float32)
    labels = [("a", "b"), ("a", "b"), ("a",)]
    [every] = evaluation.sweep(vectors, labels, [2], [10.0], use_first=False)
    [first] = evaluation.sweep(vectors, labels, [2], [10.0], use_first=True)
    assert every.accuracy == first.accuracy == 1.0
    b_every = {a.label: a for a in every.labels}["b"]
    assert (b_every.precision, b_every.recall) == (pytest.approx(2 / 3), 1.0)
    b_first = {a.label: a for a in first.labels}["b"]
    assert (b_first.precision, b_first.recall) == (0.0, 0.0)


def candidates(*rows: tuple[str, float, tuple[float, float]]) -> tuple[list[PoolCandidate], np.ndarray]:
    return [PoolCandidate(i, s, "") for i, s, _ in rows], np.array([v for _, _, v in rows], dtype=np.float32)


def test_near_duplicates_of_a_better_hit_are_skipped():
    ranked, vectors = candidates(
        ("a", 0.9, (1.0, 0.0)), ("a-copy", 0.89, (0.999, 0.04)), ("b", 0.7, (0.6, 0.8)), ("c", 0.5, (0.0, 1.0))
    )
    assert [c.id for c in without_near_duplicates(ranked, vectors, 0.95, 10)] == ["a", "b", "c"]
    assert [c.id for c in without_near_duplicates(ranked, vectors, 0.95, 2)] == ["a", "b"]
    assert [c.id for c in without_near_duplicates(ranked, vectors, 0.5, 10)] == ["a", "c"]
    assert [c.id for c in without_near_duplicates(ranked, vectors, 1.0, 10)] == ["a", "a-copy", "b", "c"]


def test_hits_of_several_examples_merge_by_best_similarity():
    merged = merge_best(
        [
            [PoolCandidate("x", 0.5, ""), PoolCandidate("y", 0.4, "")],
            [PoolCandidate("y", 0.8, ""), PoolCandidate("z", 0.4, ""), PoolCandidate("ex", 0.99, "")],
        ],
        exclude={"ex"},
    )
    assert [(c.id, c.similarity) for c in merged] == [("y", 0.8), ("x", 0.5), ("z", 0.4)]


def test_uncertain_images_come_smallest_margin_first():
    ranked = rank_uncertain(
        [
            ("sure", [LabelScore("a", 90.0), LabelScore("b", 10.0)]),
            ("torn", [LabelScore("a", 50.0), LabelScore("b", 45.0)]),
            ("alone", [LabelScore("a", 100.0)]),
            ("unknown", []),
        ]
    )
    assert [u.id for u in ranked] == ["unknown", "torn", "sure", "alone"]
    assert ranked[1].margin == pytest.approx(5.0)


@pytest.mark.parametrize(
    ("given", "field"),
    [
        (GivenParams(threshold=100.5), "params.threshold"),
        (GivenParams(threshold=-1.0), "params.threshold"),
        (GivenParams(k=-1), "params.k"),
        (GivenParams(k=100_000), "params.k"),
    ],
)
def test_params_out_of_range_name_their_field(given, field):
    with pytest.raises(InvalidArgument) as raised:
        check_params(given, "params")
    assert raised.value.violations[0][0] == field
