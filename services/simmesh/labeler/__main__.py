"""`python -m simmesh.labeler`: the labeler server."""

import sys

from simmesh.kit.server import service_main
from simmesh.labeler.app import build_app
from simmesh.labeler.settings import LabelerSettings

if __name__ == "__main__":
    sys.exit(service_main("labeler", LabelerSettings, build_app))
