"""Health: is the database reachable, at the right schema, and how far behind are projections."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from catalogue.api.dependencies import ServicesDep
from catalogue.revisions import current_revision
from catalogue.runner import projection_status

router = APIRouter(tags=["health"])


class ProjectionHealth(BaseModel):
    """One projection's state."""

    name: str
    mode: str
    status: str
    position: int
    lag: int


class Health(BaseModel):
    """The service's state."""

    status: str
    schema_revision: str | None
    head_position: int
    projections: list[ProjectionHealth]


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"description": "The database cannot be reached"}},
)
def health(services: ServicesDep) -> Health:
    """Report the database revision, the store head and each projection's lag."""
    statuses = projection_status(services.store, services.projections)
    return Health(
        status="ok",
        schema_revision=current_revision(services.engine),
        head_position=statuses[0].head if statuses else services.store.head_position(),
        projections=[
            ProjectionHealth(
                name=s.name,
                mode=s.mode.value,
                status=s.status.value,
                position=s.position,
                lag=s.lag,
            )
            for s in statuses
        ],
    )
