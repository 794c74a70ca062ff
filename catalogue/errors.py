"""One error tree for the whole service; driver errors are translated into it."""

from __future__ import annotations


class CatalogueError(Exception):
    """Base of every error the service reports to a user or operator."""

    #: Stable RFC 9457 problem type suffix and HTTP status for the API.
    problem_type = "catalogue-error"
    status = 500

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        #: The request field at fault, when one is (problem+json names it).
        self.field = field


class EventError(CatalogueError):
    """An event that cannot be encoded, decoded or recognised."""

    problem_type = "invalid-event"
    status = 422


class UnknownEventType(EventError):
    """An event type name that no registered payload class carries."""

    problem_type = "unknown-event-type"

    def __init__(self, type_name: str) -> None:
        super().__init__(f"unknown event type {type_name!r}")
        self.type_name = type_name


class EventValidationError(EventError):
    """A payload that does not match its event class."""

    problem_type = "invalid-event-payload"


class EventSerializationError(EventError):
    """A payload that cannot be written as JSON."""

    problem_type = "event-not-serializable"


class StoreError(CatalogueError):
    """A failure of the event store or read-model database."""

    problem_type = "store-error"
    status = 503


class DatabaseUnavailable(StoreError):
    """The database cannot be reached or refused the connection."""

    problem_type = "database-unavailable"


class SchemaOutOfDate(StoreError):
    """The database is not at the schema revision this code expects."""

    problem_type = "schema-out-of-date"


class ConcurrencyConflict(StoreError):
    """An append whose expected stream version did not match; nothing was written."""

    problem_type = "version-conflict"
    status = 409

    def __init__(self, stream: str, expected: object, actual: int) -> None:
        super().__init__(
            f"stream {stream!r} is at version {actual}, but the append expected {expected}"
        )
        self.stream = stream
        self.expected = expected
        self.actual = actual


class DuplicateEventId(StoreError):
    """An append that reuses some, but not all, event ids already stored."""

    problem_type = "duplicate-event-id"
    status = 409


class ProjectionError(CatalogueError):
    """A projection that is unknown or cannot run as asked."""

    problem_type = "projection-error"
    status = 400


class ConfigurationError(CatalogueError):
    """Settings that cannot work (bad URL, unreadable file)."""

    problem_type = "configuration-error"
    status = 500


class DomainError(CatalogueError):
    """A command the domain rules refuse in the entity's current state."""

    problem_type = "command-rejected"
    status = 409


class InvalidCommand(DomainError):
    """A command whose values break a rule (wrong unit, end before start); `field` names it."""

    problem_type = "invalid-value"
    status = 422


class TooLarge(InvalidCommand):
    """Content or an upload over the configured size; nothing was stored."""

    problem_type = "too-large"
    status = 413


class UnsupportedMediaType(InvalidCommand):
    """An upload of a type the service does not take (an attachment that is not PNG or JPEG)."""

    problem_type = "unsupported-media-type"
    status = 415


class AlreadyExists(DomainError):
    """A name already taken where names must be unique (dataset, sample, user)."""

    problem_type = "already-exists"
    status = 409


class NotFound(CatalogueError):
    """An entity that does not exist, or that the caller may not know exists."""

    problem_type = "not-found"
    status = 404


class Unauthenticated(CatalogueError):
    """A missing, unknown, expired or revoked credential on a request that needs one."""

    problem_type = "unauthenticated"
    status = 401


class Forbidden(CatalogueError):
    """A caller who may see the entity but not do this to it."""

    problem_type = "forbidden"
    status = 403


class PreconditionFailed(CatalogueError):
    """An `If-Match` version that is no longer the entity's version; nothing was written."""

    problem_type = "precondition-failed"
    status = 412


class InvalidQuery(CatalogueError):
    """A query parameter that cannot be used (a cursor from another listing, a bad filter)."""

    problem_type = "invalid-query"
    status = 400
