"""The labeler's domain, assembled: projects, images, suggestions, analysis, mining, export."""

from __future__ import annotations

from dataclasses import dataclass

from simmesh.labeler.analysis import Analysis
from simmesh.labeler.backends import Backends
from simmesh.labeler.export import Exporter
from simmesh.labeler.pool import PoolMiner
from simmesh.labeler.project_images import ProjectImages
from simmesh.labeler.projects import Projects
from simmesh.labeler.suggest import Suggester


@dataclass(frozen=True)
class Labeler:
    projects: Projects
    images: ProjectImages
    suggester: Suggester
    analysis: Analysis
    miner: PoolMiner
    exporter: Exporter


def build_labeler(backends: Backends) -> Labeler:
    images = ProjectImages(backends)
    return Labeler(
        projects=Projects(backends),
        images=images,
        suggester=Suggester(backends, images),
        analysis=Analysis(backends),
        miner=PoolMiner(backends),
        exporter=Exporter(backends),
    )
