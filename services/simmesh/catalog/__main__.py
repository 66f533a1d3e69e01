"""`python -m simmesh.catalog`: the catalog server."""

import sys

from simmesh.catalog.app import build_app
from simmesh.catalog.settings import CatalogSettings
from simmesh.kit.server import service_main

if __name__ == "__main__":
    sys.exit(service_main("catalog", CatalogSettings, build_app))
