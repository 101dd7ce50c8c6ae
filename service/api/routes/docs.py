"""The OpenAPI document and Swagger UI, for logged-in users only (the API's shape is not public).

Swagger UI's files come from the `fastapi-offline` package (Swagger UI 5, which renders the OpenAPI 3.1 that FastAPI
writes; `swagger-ui-bundle`'s Swagger UI 4 cannot). No CDN: nothing leaves the hospital's network, and the
Content-Security-Policy allows this origin only. The page runs no inline script: its start-up code is
`/static/docs/swagger-init.js`, which also sends the session's X-CSRF-Token with "Try it out" requests.
"""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

from service.api.deps import CurrentUser

router = APIRouter(tags=["docs"], include_in_schema=False)

SWAGGER_UI_DIR = Path(str(files("fastapi_offline") / "static"))
SWAGGER_ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon.png"})
"""The only files of the bundle the page uses (no directory listing, no other path reaches the disk)."""

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon.png">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="/openapi.json"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/static/docs/swagger-init.js"></script>
</body>
</html>
"""


@router.get("/openapi.json")
def openapi(request: Request, _user: CurrentUser) -> dict[str, Any]:
    return request.app.openapi()


@router.get("/docs")
def swagger_ui(request: Request, _user: CurrentUser) -> HTMLResponse:
    title = html.escape(f"{request.app.title} - API docs")
    return HTMLResponse(_PAGE.format(title=title), headers={"Cache-Control": "no-cache"})


@router.get("/docs/assets/{name}")
def swagger_asset(name: str, _user: CurrentUser) -> FileResponse:
    if name not in SWAGGER_ASSETS:
        raise HTTPException(status_code=404, detail="no such file")
    return FileResponse(SWAGGER_UI_DIR / name, headers={"Cache-Control": "private, max-age=3600"})
