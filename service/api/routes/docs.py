"""The OpenAPI document and Swagger UI, for logged-in users only (the API's shape is not public)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from service.api.deps import CurrentUser

router = APIRouter(tags=["docs"], include_in_schema=False)


@router.get("/openapi.json")
def openapi(request: Request, _user: CurrentUser) -> dict[str, Any]:
    return request.app.openapi()


@router.get("/docs")
def swagger_ui(request: Request, _user: CurrentUser) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{request.app.title} - API docs")
