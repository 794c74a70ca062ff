"""The caller of a request: anonymous, or the user or beamline its bearer token names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from catalogue.api.dependencies import ServicesDep
from catalogue.database import read_transaction
from catalogue.domain.access import ANONYMOUS
from catalogue.errors import Unauthenticated
from catalogue.portal.execution import Caller
from catalogue.readmodels.identity import resolve_principal

_bearer = HTTPBearer(
    auto_error=False,
    description="A user's token (`catalogue tokens create`) or a beamline API key "
    "(`catalogue api-keys create`). Without one, only open data is readable.",
)


def get_caller(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Resolve the bearer token, if any; a bad token is refused, never treated as anonymous."""
    now = datetime.now(UTC)
    correlation_id = request.headers.get("x-correlation-id")
    if correlation_id is not None and (
        len(correlation_id) > 100 or not correlation_id.isprintable()
    ):
        correlation_id = None
    if credentials is None:
        if request.headers.get("authorization"):
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        return Caller(ANONYMOUS, now=now, correlation_id=correlation_id)
    with read_transaction(services.engine) as connection:
        principal = resolve_principal(connection, credentials.credentials, now)
    return Caller(principal, now=now, correlation_id=correlation_id)


CallerDep = Annotated[Caller, Depends(get_caller)]
#: The bearer token as sent, for a long request that checks its caller again as it goes.
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
