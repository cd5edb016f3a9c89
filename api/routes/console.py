"""The web console (``/console/``) and the API's own docs (``/docs``, ``/redoc``), served offline.

Every asset comes from the project: the console's files from ``api/console/``, Swagger UI,
ReDoc and the keccak library (``@noble/hashes``) from ``node_modules`` (installed by ``make
install`` from package-lock.json). No page loads anything from a CDN.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from api.errors import NotFound, ServiceUnavailable

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"
NODE_MODULES = Path(__file__).resolve().parent.parent.parent / "node_modules"
#: what /console/vendor/<name>/ serves: an npm package's directory (files only, no traversal)
VENDOR = {
    "swagger-ui": NODE_MODULES / "swagger-ui-dist",
    "redoc": NODE_MODULES / "redoc" / "bundles",
    "noble-hashes": NODE_MODULES / "@noble" / "hashes",
}
MEDIA = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}
FAVICON = "/console/assets/favicon.svg"
#: the one remote URL in a vendored bundle (ReDoc's sidebar logo), pointed at a local file
REWRITES = {
    ("redoc", "redoc.standalone.js"): (b"https://cdn.redoc.ly/redoc/logo-mini.svg", FAVICON),
}

router = APIRouter(include_in_schema=False)


def _file(base: Path, rel: str) -> FileResponse:
    path = (base / rel).resolve()
    if not path.is_relative_to(base.resolve()) or not path.is_file():
        raise NotFound(f"no such console file: {rel}", {"path": rel})
    return FileResponse(path, media_type=MEDIA.get(path.suffix, "application/octet-stream"))


@lru_cache(maxsize=4)
def _rewritten(path: Path, remote: bytes, local: str) -> bytes:
    return path.read_bytes().replace(remote, local.encode())


@router.get("/console")
async def console_redirect() -> RedirectResponse:
    return RedirectResponse("/console/")


@router.get("/console/")
async def console_index() -> FileResponse:
    return _file(CONSOLE_DIR, "index.html")


@router.get("/console/assets/{rel:path}")
async def console_asset(rel: str) -> FileResponse:
    return _file(CONSOLE_DIR, rel)


@router.get("/console/vendor/{package}/{rel:path}")
async def vendor_asset(package: str, rel: str) -> Response:
    base = VENDOR.get(package)
    if base is None:
        raise NotFound(f"no vendored package {package!r}", {"package": package})
    if not base.is_dir():
        raise ServiceUnavailable(
            f"{base} is missing: run `make install` (npm ci) to install the console's assets"
        )
    found = _file(base, rel)
    rewrite = REWRITES.get((package, rel))
    if rewrite is None:
        return found
    return Response(_rewritten(Path(found.path), *rewrite), media_type=found.media_type)


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} (Swagger UI)",
        swagger_js_url="/console/vendor/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url="/console/vendor/swagger-ui/swagger-ui.css",
        swagger_favicon_url=FAVICON,
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} (ReDoc)",
        redoc_js_url="/console/vendor/redoc/redoc.standalone.js",
        redoc_favicon_url=FAVICON,
        with_google_fonts=False,
    )
