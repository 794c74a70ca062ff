"""NeXus/HDF5 ingest: reading files on disk into catalogue metadata."""
