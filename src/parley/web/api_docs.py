"""The interactive API documentation, `/docs` (Swagger UI) and `/redoc` (ReDoc), served from Parley itself.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, unpinned and without integrity checks, on Parley's
origin: whoever serves those files could run script with a signed-in user's reach. Here the files come from
the `fastapi-offline` package (Swagger UI 5 and ReDoc 2, pinned in uv.lock) and the pages carry a policy that
lets them load and call nothing but Parley.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, HTMLResponse

from parley.errors import NotFound

_PACKAGED = Path(str(files("fastapi_offline") / "static"))
_OURS = Path(__file__).resolve().parent / "api_docs_assets"
# The only files served under /docs/assets/, by name: nothing else of either directory is reachable.
_ASSETS: dict[str, Path] = {
    "swagger-ui-bundle.js": _PACKAGED / "swagger-ui-bundle.js",
    "swagger-ui.css": _PACKAGED / "swagger-ui.css",
    "redoc.standalone.js": _PACKAGED / "redoc.standalone.js",
    "favicon.png": _PACKAGED / "favicon.png",
    "swagger-init.js": _OURS / "swagger-init.js",
    "redoc-init.js": _OURS / "redoc-init.js",
}
# Scripts and styles from Parley only, calls to Parley only (the OpenAPI document, "Try it out"), no framing.
# Inline styles stay allowed: both UIs set style attributes, and ReDoc injects its styles as <style> elements.
# ReDoc's search runs in a worker it creates from a blob.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
_HEADERS = {"Content-Security-Policy": DOCS_CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"}

_SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Parley API</title>
<link rel="icon" type="image/png" href="docs/assets/favicon.png">
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/assets/swagger-init.js"></script>
</body>
</html>
"""

_REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Parley API</title>
<link rel="icon" type="image/png" href="docs/assets/favicon.png">
</head>
<body>
<div id="redoc"></div>
<script src="docs/assets/redoc.standalone.js"></script>
<script src="docs/assets/redoc-init.js"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    # Relative links (docs/assets/…, openapi.json) keep working when a proxy serves Parley under a prefix.
    return HTMLResponse(_SWAGGER_PAGE, headers=_HEADERS)


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    return HTMLResponse(_REDOC_PAGE, headers=_HEADERS)


@router.get("/docs/assets/{name}")
async def docs_asset(name: str) -> FileResponse:
    path = _ASSETS.get(name)
    if path is None:
        raise NotFound("no such documentation asset")
    # Named by their version through uv.lock, not by their URL: revalidated, not cached for a year.
    return FileResponse(path, headers={"Cache-Control": "no-cache"})
