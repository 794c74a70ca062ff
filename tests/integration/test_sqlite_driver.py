"""SQLite statements run on the driver directly still raise SQLAlchemy's (then our) errors."""

from __future__ import annotations

import pytest
import sqlalchemy.exc

from catalogue.database import create_engine, run_on_sqlite_driver, write_transaction
from catalogue.errors import StoreError


def test_driver_errors_are_wrapped_and_translated(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        with pytest.raises(sqlalchemy.exc.OperationalError, match="no such table: nowhere"):
            run_on_sqlite_driver(connection, "SELECT * FROM nowhere")
        run_on_sqlite_driver(connection, "CREATE TABLE t (a INTEGER PRIMARY KEY)")
        with pytest.raises(sqlalchemy.exc.IntegrityError, match="UNIQUE"):
            run_on_sqlite_driver(connection, "INSERT INTO t VALUES (?)", [(1,), (1,)], many=True)
        assert run_on_sqlite_driver(connection, "SELECT count(*) FROM t") == [(1,)]
    with pytest.raises(StoreError, match="no such table: nowhere"), write_transaction(engine) as c:
        run_on_sqlite_driver(c, "SELECT * FROM nowhere")
    engine.dispose()
