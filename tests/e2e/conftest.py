"""Fixtures of the end-to-end tests: the portal app over each database (see `portal.py`)."""

from tests.e2e.portal import portal

__all__ = ["portal"]
