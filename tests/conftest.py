"""Fixtures shared by every test package: the session's Bolt server and Bolt stores."""

from tests.bolt_server import bolt_target, neo4j_store  # noqa: F401 - fixtures
