"""The web console (docs/console.md): server-rendered pages over the same services as the REST API.

`router` holds every console route, the console's own static files (htmx, the stylesheet) and the
offline API docs at /docs (Swagger UI served from here, never from a CDN).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from pager.api.console import alerts, demo_phone, incidents, login, people, schedules
from pager.api.console.web import HERE

# Kept outside pager/api (pager/static): the vendored bundles are not our code, and the API layer's
# own files stay free of what they contain.
STATIC = HERE.parent.parent / "static"
# Every file /static serves, with its type: nothing else under the folder is reachable.
STATIC_FILES = {
    "htmx.min.js": "text/javascript",
    "console.css": "text/css",
    "status.css": "text/css",  # the public status page (pager/api/status_page.py)
    "favicon.svg": "image/svg+xml",
    "swagger/swagger-ui-bundle.js": "text/javascript",
    "swagger/swagger-ui.css": "text/css",
}

router = APIRouter(include_in_schema=False)
for module in (login, schedules, alerts, incidents, people, demo_phone):
    router.include_router(module.router)


@router.get("/static/{name:path}")
async def static_file(name: str) -> FileResponse:
    """A vendored or own asset, cached for an hour."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise HTTPException(404, f"no static file {name!r}")
    return FileResponse(
        STATIC / name, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"}
    )


@router.get("/docs")
async def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI for /openapi.json, with its script and stylesheet served by pager itself."""
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json",
        title="pager API",
        swagger_js_url="/static/swagger/swagger-ui-bundle.js",
        swagger_css_url="/static/swagger/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
    )
