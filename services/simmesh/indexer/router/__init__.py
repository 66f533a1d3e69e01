"""The indexer router: collections in etcd, records placed on shards by `_id`, searches fanned
out to every shard with the caller's deadline and ranked, approximator training as a
long-running operation. `Router` holds one object per concern; the servicer calls them."""

from __future__ import annotations

from simmesh.imaging.limits import ImageLimits
from simmesh.imaging.source import ImageSource
from simmesh.indexer.router.collection_snapshots import CollectionSnapshots
from simmesh.indexer.router.collections import Collections
from simmesh.indexer.router.embedder import Embedder
from simmesh.indexer.router.fanout import Fanout
from simmesh.indexer.router.kept_images import KeptImages
from simmesh.indexer.router.reads import Reads
from simmesh.indexer.router.search import Search
from simmesh.indexer.router.training import Training
from simmesh.indexer.router.writes import Writes
from simmesh.indexer.shard_map import ShardMap
from simmesh.kit.blobstore import BlobStore
from simmesh.kit.operations import OperationManager
from simmesh.kit.peers import EmbedderClient

__all__ = ["Router"]


class Router:
    """The router's parts, wired to one shard map, embedder and operation manager."""

    def __init__(
        self,
        shards: ShardMap,
        embedder: EmbedderClient | None,
        operations: OperationManager,
        *,
        min_train_vectors: int = 1000,
        blobstore: BlobStore | None = None,
        snapshot_store: BlobStore | None = None,
        image_limits: ImageLimits | None = None,
    ) -> None:
        self.shards = shards
        self.operations = operations
        self.embedder = Embedder(embedder)
        self.fanout = Fanout(shards)
        # Records' original images and thumbnails; with no store, none are kept. URL images are
        # fetched within `image_limits` (the same address checks as the embedder's).
        self.kept = KeptImages(blobstore, ImageSource(image_limits, blobstore))
        # Collections with a TrainIndex job running in this router.
        training: set[str] = set()
        self.collections = Collections(shards, self.fanout, self.embedder, training, self.kept)
        self.reads = Reads(shards, self.fanout)
        self.writes = Writes(shards, self.fanout, self.embedder, self.reads, self.kept)
        self.search = Search(shards, self.fanout, self.reads, self.embedder)
        self.coarse = self.search.coarse
        self.training = Training(
            self.fanout, self.collections, operations, self.coarse, training, min_train_vectors=min_train_vectors
        )
        # Collection snapshots, in the object store the shards write theirs to.
        self.snapshots = CollectionSnapshots(self.collections, self.fanout, operations, snapshot_store)
