"""`python -m simmesh.embedder`: the embedder server."""

import sys

from simmesh.embedder.app import build_app
from simmesh.embedder.settings import EmbedderSettings
from simmesh.kit.server import service_main

if __name__ == "__main__":
    sys.exit(service_main("embedder", EmbedderSettings, build_app))
