"""The web console's static files at `/`: index.html for `/`, other files by name, no listings."""

from __future__ import annotations

import os

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

# Pages are revalidated on every load (a new console shows at once); assets are cached a while.
PAGE_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=300"


class ConsoleFiles(StaticFiles):
    """StaticFiles (which never lists a folder) with cache headers by kind of file."""

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        is_page = str(full_path).endswith(".html")
        response.headers["Cache-Control"] = PAGE_CACHE if is_page else ASSET_CACHE
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response
