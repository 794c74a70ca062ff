"""Read models: the projections that keep the catalogue's tables, and the queries on them."""
