"""Fixtures for serving tests: an empty graph store of each backend (``store``)."""

from tests.store_backends import store  # noqa: F401 - fixture
