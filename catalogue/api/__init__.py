"""The HTTP API of the data portal."""
