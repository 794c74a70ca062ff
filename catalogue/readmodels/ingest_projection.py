"""The ingest projection (inline): per dataset folder, what the catalogue holds and what failed.

The scanner reads it to skip unchanged folders without opening a file, and to leave failed
ones alone until their retry time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection

from catalogue.domain import ingests as ing
from catalogue.events import RecordedEvent
from catalogue.projections import Mode, Projection, upsert_statement
from catalogue.readmodels.projection import type_names
from catalogue.readmodels.writes import OrderedWrites
from catalogue.schema import ingest_folders

_INGESTED: tuple[str, ...] = (
    "status", "dataset_id", "fingerprint", "failed_fingerprint", "reason", "attempts",
    "retry_at", "warnings", "beamline", "version", "updated_at",
)  # fmt: skip
# A failure keeps what an earlier ingest recorded (the dataset and its fingerprint).
_FAILED: tuple[str, ...] = (
    "status", "failed_fingerprint", "reason", "attempts", "retry_at", "beamline", "version",
    "updated_at",
)  # fmt: skip


def _upsert(connection: Connection, columns: tuple[str, ...]) -> Callable[[], Any]:
    """The upsert of a folder's row that sets only `columns` on a row that exists."""
    return lambda: upsert_statement(
        connection, ingest_folders, ["path"], lambda new: {c: new[c] for c in columns}
    )


class IngestProjection(Projection):
    """Ingest status per dataset folder: ingested (with warnings) or failed (with reason)."""

    name = "ingest"
    mode = Mode.INLINE
    handles = type_names(ing.INGEST_EVENTS)
    tables = (ingest_folders,)

    def apply(self, connection: Connection, batch: Sequence[RecordedEvent]) -> None:
        """Upsert each folder's row from its latest event."""
        writes = OrderedWrites(connection)
        for event in batch:
            payload = event.payload
            row: dict[str, Any] = {
                "path": "",
                "status": "",
                "dataset_id": None,
                "fingerprint": None,
                "failed_fingerprint": None,
                "reason": None,
                "attempts": 0,
                "retry_at": None,
                "warnings": [],
                "beamline": None,
                "version": event.version,
                "updated_at": event.recorded_at,
            }
            if isinstance(payload, ing.DatasetIngested):
                row |= {
                    "path": payload.path,
                    "status": "ingested",
                    "dataset_id": payload.dataset_id,
                    "fingerprint": payload.fingerprint,
                    "warnings": list(payload.warnings),
                    "beamline": payload.beamline,
                }
                columns = _INGESTED
            elif isinstance(payload, ing.IngestFailed):
                row |= {
                    "path": payload.path,
                    "status": "failed",
                    "failed_fingerprint": payload.fingerprint,
                    "reason": payload.reason,
                    "attempts": payload.attempt,
                    "retry_at": payload.retry_at,
                    "beamline": payload.beamline,
                }
                columns = _FAILED
            else:
                continue
            writes.add(
                f"ingest:{row['status']}",
                "ingest_folders",
                _upsert(connection, columns),
                row,
                row["path"],
            )
        writes.flush()
