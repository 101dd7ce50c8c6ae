"""The dashboard: `/` serves the single page, `/static/...` its modules and styles (shipped as package data).

The files hold no patient data, so they are served without login: the page itself asks `/api/auth/me` and shows
its login form when that answers 401 (404 means access control is not enabled in this build).
"""

from __future__ import annotations

import logging
import os
from os import PathLike

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

from service.web import STATIC_DIR

logger = logging.getLogger(__name__)

router = APIRouter(tags=["dashboard"], include_in_schema=False)

NO_CACHE = {"Cache-Control": "no-cache"}
"""Revalidate on every load, so a service upgrade never runs an old page against a new API."""


@router.get("/", summary="The dashboard")
def dashboard() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers=NO_CACHE)


@router.get("/dashboard", summary="Old/bookmark address of the dashboard")
def dashboard_alias() -> RedirectResponse:
    return RedirectResponse("/")


class _RevalidatedStaticFiles(StaticFiles):
    """StaticFiles whose responses revalidate (ETag / Last-Modified still make that a cheap 304)."""

    def file_response(
        self, full_path: str | PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(NO_CACHE)
        return response


def install_dashboard(app: FastAPI) -> None:
    """Add the page route and mount the static files (a mount cannot travel inside an APIRouter)."""
    if not (STATIC_DIR / "index.html").is_file():
        logger.warning("dashboard files missing under %s; the dashboard is not served", STATIC_DIR)
        return
    app.include_router(router)
    app.mount("/static", _RevalidatedStaticFiles(directory=STATIC_DIR), name="static")
