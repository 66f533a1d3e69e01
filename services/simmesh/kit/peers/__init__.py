"""Typed async clients of the mesh's services, each translating a peer's error once (see `calls`).

embedder = EmbedderClient(open_channel(settings.embedder_addr, settings.auth_token), settings.embedder_addr)
reply = await embedder.embed("models/clip/versions/2", images, timeout=remaining(context))
"""

from simmesh.kit.peers.calls import PeerClient, translate
from simmesh.kit.peers.catalog import CatalogClient
from simmesh.kit.peers.embedder import EmbedderClient
from simmesh.kit.peers.indexer import IndexerClient

__all__ = ["CatalogClient", "EmbedderClient", "IndexerClient", "PeerClient", "translate"]
