"""Metadata search: query model, SQL and Elasticsearch backends."""
