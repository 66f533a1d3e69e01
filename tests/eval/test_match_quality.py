"""The built-in `match` model finds the original of altered copies among all 600 sample photos.

Each photo of the ImageNet sample is centre-cropped to 80%, halved, re-compressed at JPEG
quality 30, brightened by 25%, mirrored, rotated 5 degrees and captioned; every copy is searched
against the 600 originals by cosine similarity through ONNX Runtime (see bench/match_quality.py).
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import match_quality

OVERALL_RECALL_AT_1 = 0.97
PER_ALTERATION_RECALL_AT_1 = 0.9

pytestmark = pytest.mark.slow


def test_match_recall_at_1_on_altered_copies(imagenet_sample_dir: Path) -> None:
    with ThreadPoolExecutor(2) as executor:
        originals = match_quality.load_images(imagenet_sample_dir, executor)
        embed = match_quality.onnx_embedder("match", executor, threads=2)
        report = match_quality.evaluate(originals, embed, executor)
    assert len(originals) == 600
    print("\n" + report.markdown())
    assert set(report.recall_at_1) == set(match_quality.ALTERATIONS)
    for alteration, recall in report.recall_at_1.items():
        assert recall >= PER_ALTERATION_RECALL_AT_1, f"{alteration}: recall@1 {recall:.3f}"
    assert report.overall >= OVERALL_RECALL_AT_1
