"""The labeler's domain, assembled: projects, images, suggestions, analysis, mining, export."""

from __future__ import annotations

from dataclasses import dataclass

from simmesh.labeler.analysis import Analysis
from simmesh.labeler.core import Core
from simmesh.labeler.export import Exporter
from simmesh.labeler.images import Images
from simmesh.labeler.peers import Mesh
from simmesh.labeler.pool import PoolMiner
from simmesh.labeler.projects import Projects
from simmesh.labeler.store import LabelerStore
from simmesh.labeler.suggest import Suggester


@dataclass(frozen=True)
class Labeler:
    projects: Projects
    images: Images
    suggester: Suggester
    analysis: Analysis
    miner: PoolMiner
    exporter: Exporter


def build_labeler(store: LabelerStore, mesh: Mesh, *, shard_count: int = 1) -> Labeler:
    core = Core(store, mesh, shard_count=shard_count)
    images = Images(core)
    return Labeler(projects=Projects(core), images=images, suggester=Suggester(core, images),
                   analysis=Analysis(core), miner=PoolMiner(core), exporter=Exporter(core))
