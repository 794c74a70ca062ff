"""The logbook projection: entries, their tags and attachments, and tag definitions (inline)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, bindparam, delete, insert, update

from catalogue.domain import logbook as lb
from catalogue.events import RecordedEvent
from catalogue.projections import Mode, Projection
from catalogue.readmodels.fulltext import search_words
from catalogue.readmodels.projection import partial_update, stream_key, type_names
from catalogue.readmodels.writes import OrderedWrites
from catalogue.schema import logbook_attachments, logbook_entries, logbook_entry_tags, logbook_tags

#: How much of an entry's text is indexed for full-text search.
SEARCHED_CHARS = 200_000


def _content_columns(content: lb.Content) -> dict[str, Any]:
    return {
        "text": content.text,
        "markup": content.markup,
        "source": content.source,
        "html": content.html,
        # Bounded: PostgreSQL refuses a tsvector over 1 MB, and past this many characters of
        # one entry the words add little to what a search can find.
        "search_text": search_words(f"{content.text} {content.html_text or ''}")[:SEARCHED_CHARS],
    }


class LogbookProjection(Projection):
    """Entries with their current content, tags, attachments and last change; tag definitions."""

    name = "logbook"
    mode = Mode.INLINE
    handles = type_names((*lb.ENTRY_EVENTS, *lb.TAG_EVENTS))
    tables = (logbook_tags, logbook_attachments, logbook_entry_tags, logbook_entries)

    def apply(self, connection: Connection, batch: Sequence[RecordedEvent]) -> None:
        """Fold the batch into the logbook tables, then each touched entry's version."""
        writes = OrderedWrites(connection)
        #: Entries changed after their row was written in this batch: version to set.
        latest: dict[UUID, RecordedEvent] = {}
        latest_tag: dict[UUID, RecordedEvent] = {}
        attachments: Counter[UUID] = Counter()
        for event in batch:
            key = UUID(stream_key(event.stream))
            payload = event.payload
            if isinstance(payload, lb.TagDefined | lb.TagChanged):
                self._apply_tag(writes, key, payload, event)
                if not isinstance(payload, lb.TagDefined):
                    latest_tag[key] = event
                continue
            match payload:
                case lb.EntryPosted() as posted:
                    writes.insert("entry", logbook_entries, _posted_row(posted, event), key)
                    for tag in posted.tags:
                        writes.insert(
                            "tag+", logbook_entry_tags, {"entry_id": key, "tag": tag}, (key, tag)
                        )
                    latest.pop(key, None)
                    continue
                case lb.EntryEdited() as edited:
                    changes = _content_columns(edited.content)
                    changes["content_version"] = event.version
                    if edited.category is not None:
                        changes["category"] = edited.category.value
                    partial_update(writes, logbook_entries, "id", key, changes)
                case lb.EntryTagged() as tagged:
                    for tag in tagged.tags:
                        writes.insert(
                            "tag+", logbook_entry_tags, {"entry_id": key, "tag": tag}, (key, tag)
                        )
                case lb.EntryUntagged() as untagged:
                    for tag in untagged.tags:
                        writes.add(
                            "tag-",
                            "logbook_entry_tags",
                            lambda: delete(logbook_entry_tags).where(
                                logbook_entry_tags.c.entry_id == bindparam("_entry"),
                                logbook_entry_tags.c.tag == bindparam("_tag"),
                            ),
                            {"_entry": key, "_tag": tag},
                            (key, tag),
                        )
                case lb.EntryDeleted() as deleted:
                    partial_update(
                        writes,
                        logbook_entries,
                        "id",
                        key,
                        {"deleted": True, "deleted_reason": deleted.reason},
                    )
                case lb.EntryRestored():
                    partial_update(
                        writes,
                        logbook_entries,
                        "id",
                        key,
                        {"deleted": False, "deleted_reason": None},
                    )
                case lb.AttachmentAdded() as added:
                    writes.add(
                        "attachment",
                        "logbook_attachments",
                        insert(logbook_attachments),
                        {
                            "entry_id": key,
                            **added.attachment.model_dump(),
                            "added_at": event.recorded_at,
                            "added_by": event.metadata.actor or "",
                        },
                        (key, added.attachment.sha256),
                    )
                    attachments[key] += 1
            latest[key] = event
        writes.flush()
        if attachments:
            connection.execute(
                update(logbook_entries)
                .where(logbook_entries.c.id == bindparam("_key"))
                .values(attachment_count=logbook_entries.c.attachment_count + bindparam("_n")),
                [{"_key": k, "_n": n} for k, n in attachments.items()],
            )
        if latest:
            # Only entries changed after their posting: a posted row carries these already.
            connection.execute(
                update(logbook_entries)
                .where(logbook_entries.c.id == bindparam("_key"))
                .values(
                    version=bindparam("_version"),
                    updated_at=bindparam("_at"),
                    changed_position=bindparam("_position"),
                    last_change=bindparam("_type"),
                ),
                [
                    {
                        "_key": k,
                        "_version": e.version,
                        "_at": e.recorded_at,
                        "_position": e.position,
                        "_type": e.type,
                    }
                    for k, e in latest.items()
                ],
            )
        if latest_tag:
            connection.execute(
                update(logbook_tags)
                .where(logbook_tags.c.id == bindparam("_key"))
                .values(version=bindparam("_version"), updated_at=bindparam("_at")),
                [
                    {"_key": k, "_version": e.version, "_at": e.recorded_at}
                    for k, e in latest_tag.items()
                ],
            )

    @staticmethod
    def _apply_tag(
        writes: OrderedWrites,
        key: UUID,
        payload: lb.TagDefined | lb.TagChanged,
        event: RecordedEvent,
    ) -> None:
        if isinstance(payload, lb.TagDefined):
            row = {
                "id": payload.tag_id,
                "scope": lb.tag_scope(payload.investigation_id, payload.instrument),
                "investigation_id": payload.investigation_id,
                "instrument": payload.instrument,
                "name": payload.name,
                "colour": payload.colour,
                "description": payload.description,
                "version": event.version,
                "created_at": event.recorded_at,
                "updated_at": event.recorded_at,
            }
            writes.add("logbook_tag", "logbook_tags", insert(logbook_tags), row, key)
            return
        changes = {k: v for k, v in payload.model_dump().items() if v is not None}
        partial_update(writes, logbook_tags, "id", key, changes)


def _posted_row(posted: lb.EntryPosted, event: RecordedEvent) -> dict[str, Any]:
    return {
        "id": posted.entry_id,
        "seq": event.position,
        "kind": posted.kind.value,
        "category": posted.category.value,
        "investigation_id": posted.investigation_id,
        "instrument": posted.instrument,
        "dataset_id": posted.dataset_id,
        "author": posted.author,
        "client_id": posted.client_id,
        "occurred_at": posted.occurred_at,
        **_content_columns(posted.content),
        "software": posted.software,
        "machine": posted.machine,
        "attachment_count": 0,
        "deleted": False,
        "deleted_reason": None,
        "version": event.version,
        "content_version": event.version,
        "created_at": event.recorded_at,
        "updated_at": event.recorded_at,
        "changed_position": event.position,
        "last_change": event.type,
    }
