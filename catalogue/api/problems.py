"""RFC 9457 problem responses for every error, and never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from catalogue.errors import CatalogueError, InvalidQuery

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
    if error.field is not None:
        extra["field"] = error.field
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
    slug = {400: "invalid-body", 404: "not-found", 405: "method-not-allowed"}.get(
        error.status_code, "http-error"
    )
    extra = {"field": "body"} if error.status_code == 400 else {}
    return problem(error.status_code, slug, str(error.detail), str(error.detail), **extra)


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "internal-error", "Internal error", "the service failed; see its log")


class Problem(BaseModel):
    """An RFC 9457 problem: every error the API answers."""

    type: str = Field(examples=["/problems/precondition-failed"])
    title: str
    status: int
    detail: str = Field(examples=["If-Match names version 2, but the entity is at version 3"])
    field: str | None = Field(None, description="The request field at fault, if one is.")
    errors: list[dict[str, str]] | None = Field(None, description="Every invalid field (422).")


_PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
#: Documented on every operation, so that clients and schemathesis know the error shape.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": description, "content": _PROBLEM_CONTENT}
    for status, description in (
        (400, "A query parameter or header that cannot be used"),
        (401, "A missing, malformed, expired or revoked bearer token"),
        (403, "Signed in, but not allowed to do this"),
        (404, "No such entity, or not one the caller may see"),
        (409, "The request conflicts with the entity's state"),
        (412, "The If-Match version is stale"),
        (413, "Content or an upload over the configured size"),
        (415, "An upload of a type the service does not take"),
        (422, "A value that breaks a rule; `field` names it"),
        (503, "The database is unavailable"),
    )
}


def refuse_control_characters(request: Request) -> None:
    """Refuse NUL and other control characters in the path and query before any query runs."""
    for where, items in (("path", request.path_params), ("query", request.query_params)):
        for name, value in items.items():
            if isinstance(value, str) and any(c < " " or c == "\x7f" for c in value):
                raise InvalidQuery(f"{name} contains a control character", f"{where}.{name}")


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error as problem+json."""
    app.add_exception_handler(CatalogueError, _catalogue_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
