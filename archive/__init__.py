"""Archive and restore of datasets on object storage."""
