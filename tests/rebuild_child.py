"""Run a slow rebuild of the test projection, to be killed part-way by a test."""

from __future__ import annotations

import sys

from catalogue.database import create_engine
from catalogue.runner import rebuild
from tests.sample_domain import ThingNames, make_store


def main() -> None:
    """Usage: python -m tests.rebuild_child URL DELAY_PER_BATCH."""
    url, delay = sys.argv[1], float(sys.argv[2])
    engine = create_engine(url)
    store = make_store(engine)
    rebuild(store, ThingNames(delay_per_batch=delay), batch_size=50)
    engine.dispose()


if __name__ == "__main__":
    main()
