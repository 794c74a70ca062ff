"""PostgreSQL: the append function (lock, read versions, check, insert in one call).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# p_expected: an exact version, -1 for "any", -2 for "the stream must exist".
# p_event_streams: for each event, the 1-based index of its stream in p_streams.
# p_data: the payloads as one JSON array (a text[] of JSON would make the driver escape
# every quote of every payload).
APPEND_FUNCTION = """
CREATE OR REPLACE FUNCTION catalogue_append_events(
    p_lock_key bigint,
    p_streams text[],
    p_expected bigint[],
    p_event_streams int[],
    p_event_ids uuid[],
    p_types text[],
    p_schema_versions smallint[],
    p_data jsonb,
    p_metadata text
) RETURNS TABLE (head bigint, recorded_at timestamptz, versions int[])
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_head bigint;
    v_now timestamptz;
    v_versions int[] := '{}';
    v_current int;
BEGIN
    -- The lock is held until the transaction ends. This function is VOLATILE, so under
    -- READ COMMITTED each statement below takes a fresh snapshot, taken after the lock
    -- was granted: it sees every append that committed before, and max + 1 positions
    -- commit in order (see PostgresDialect.lock_for_append).
    PERFORM pg_advisory_xact_lock(p_lock_key);
    SELECT coalesce(max(e.position), 0) INTO v_head FROM events e;
    v_now := clock_timestamp();
    FOR i IN 1 .. coalesce(array_length(p_streams, 1), 0) LOOP
        SELECT coalesce(max(e.version), 0) INTO v_current FROM events e
            WHERE e.stream = p_streams[i];
        IF (p_expected[i] = -2 AND v_current = 0)
           OR (p_expected[i] >= 0 AND p_expected[i] <> v_current) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'CA409',
                MESSAGE = 'version conflict on ' || p_streams[i],
                DETAIL = json_build_object(
                    'stream', p_streams[i], 'expected', p_expected[i], 'actual', v_current
                )::text;
        END IF;
        v_versions := v_versions || v_current;
    END LOOP;
    INSERT INTO events (position, stream, version, event_id, type, schema_version, data,
                        metadata, recorded_at)
    SELECT v_head + u.n, p_streams[u.s],
           v_versions[u.s] + (row_number() OVER (PARTITION BY u.s ORDER BY u.n))::int,
           u.event_id, u.type, u.schema_version, d.value, p_metadata::jsonb, v_now
    FROM unnest(p_event_streams, p_event_ids, p_types, p_schema_versions)
         WITH ORDINALITY AS u(s, event_id, type, schema_version, n)
    JOIN jsonb_array_elements(p_data) WITH ORDINALITY AS d(value, n) ON d.n = u.n;
    RETURN QUERY SELECT v_head, v_now, v_versions;
END
$$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION IF EXISTS catalogue_append_events("
            "bigint, text[], bigint[], int[], uuid[], text[], smallint[], jsonb, text)"
        )
