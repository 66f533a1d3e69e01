"""The Markdown table of bench/peers.py: each engine's figures, medians with their range over the runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Figures:
    """One engine's figures: its build, its chosen levels and the timed searches of every run."""

    build_s: float
    level: int
    filtered_level: int
    batch_qps: list[float] = field(default_factory=list)
    single_p50: list[float] = field(default_factory=list)
    single_p99: list[float] = field(default_factory=list)
    filtered_p50: list[float] = field(default_factory=list)
    recall: float = 0.0
    filtered_recall: float = 0.0


def spread(values: Sequence[float], form: Callable[[float], str]) -> str:
    """The median, with the range where there is more than one value."""
    middle = form(float(np.median(values)))
    return middle if len(values) == 1 else f"{middle} [{form(min(values))}–{form(max(values))}]"


def ms(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def table(figures: dict[str, Figures], knobs: dict[str, str], n: int, count: int) -> list[str]:
    """The rows, one column per engine; `knobs` names what each engine's level is (nprobe, ef_search)."""

    def row(title: str, cell: Callable[[str, Figures], str]) -> str:
        return f"| {title} | " + " | ".join(cell(name, got) for name, got in figures.items()) + " |"

    return [
        "| | " + " | ".join(figures) + " |",
        "|---|" + "---|" * len(figures),
        row("build, vectors/s (insert + index training)", lambda _, got: f"{n / got.build_s:,.0f}"),
        row("recall@10", lambda name, got: f"{got.recall:.3f} ({knobs[name]} {got.level})"),
        row(
            f"single query p50 / p99 (ms, {count} queries)",
            lambda _, got: f"{spread(got.single_p50, ms)} / {spread(got.single_p99, ms)}",
        ),
        row(f"one batch of {count:,} queries (q/s)", lambda _, got: spread(got.batch_qps, lambda v: f"{v:,.0f}")),
        row(
            "filtered, 1% selectivity, p50 ms (recall)",
            lambda name, got: (
                f"{spread(got.filtered_p50, ms)} ({got.filtered_recall:.3f}, {knobs[name]} {got.filtered_level})"
            ),
        ),
    ]
