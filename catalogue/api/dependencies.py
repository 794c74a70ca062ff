"""FastAPI dependencies: the services built by `create_app`, handed to each route."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from catalogue.services import Services


def get_services(request: Request) -> Services:
    """The services the application's lifespan built."""
    return cast(Services, request.app.state.services)


ServicesDep = Annotated[Services, Depends(get_services)]
