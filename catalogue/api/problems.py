"""RFC 9457 problem responses for every error, and never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from catalogue.errors import CatalogueError

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem(status: int, problem_type: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    """A problem+json response with a stable `type`."""
    body = {"type": f"/problems/{problem_type}", "title": title, "status": status, "detail": detail}
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


async def _catalogue_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, CatalogueError)
    if error.status >= 500:
        log.warning("%s %s: %s", request.method, request.url.path, error.detail)
    extra: dict[str, Any] = {}
    field = getattr(error, "field", None)
    if field is not None:
        extra["field"] = field
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    response = problem(
        error.status, error.problem_type, type(error).__name__, error.detail, **extra
    )
    if headers:
        response.headers.update(headers)
    return response


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        {"field": ".".join(str(part) for part in e.get("loc", ())), "message": e.get("msg", "")}
        for e in error.errors()
    ]
    first = errors[0] if errors else {"field": "", "message": "invalid request"}
    return problem(
        422,
        "validation-error",
        "Invalid request",
        f"{first['field']}: {first['message']}",
        errors=errors,
    )


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
    return problem(error.status_code, slug, str(error.detail), str(error.detail))


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "internal-error", "Internal error", "the service failed; see its log")


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error as problem+json."""
    app.add_exception_handler(CatalogueError, _catalogue_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
